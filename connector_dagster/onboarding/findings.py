"""One result of `check`: what was asked, the answer (ok, missing, forbidden, differs,
failed) and, unless ok, the fix: the setting to change or the permission to grant."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

OK, MISSING, FORBIDDEN, DIFFERS, FAILED = "ok", "missing", "forbidden", "differs", "failed"


@dataclass(frozen=True)
class Finding:
    system: str
    subject: str
    """What was asked: an entity set, an endpoint, a token."""
    status: str
    detail: str = ""
    fix: str = ""
    flow: str = ""
    """The flow that needs it; empty for the connection itself (tokens, tenant)."""
    candidates: tuple[str, ...] = field(default=())
    """Where a name differs: the names the other side offers instead."""

    @property
    def ok(self) -> bool:
        return self.status == OK

    def line(self) -> str:
        where = f"{self.flow}: " if self.flow else ""
        text = f"{self.status:<9} {self.system} {where}{self.subject}"
        text += f": {self.detail}" if self.detail else ""
        if self.candidates:
            text += f" (candidates: {', '.join(self.candidates)})"
        return text + (f" -> fix: {self.fix}" if self.fix else "")


def blocked_flows(findings: Sequence[Finding]) -> list[str]:
    """The flows that cannot run: those with a finding that is not ok."""
    return sorted({f.flow for f in findings if f.flow and not f.ok})


def as_text(findings: Sequence[Finding]) -> str:
    lines = [f.line() for f in findings]
    blocked = blocked_flows(findings)
    lines.append(
        f"{len(blocked)} flow(s) cannot run: {', '.join(blocked)}"
        if blocked
        else "every enabled flow can run"
    )
    return "\n".join(lines)


def as_json(findings: Sequence[Finding]) -> str:
    return json.dumps(
        {
            "checks": [{**asdict(f), "candidates": list(f.candidates)} for f in findings],
            "blocked_flows": blocked_flows(findings),
        },
        indent=2,
    )
