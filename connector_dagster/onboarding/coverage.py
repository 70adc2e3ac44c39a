"""`connector-dagster mappings coverage`: what a period would do with the mappings in
force, per flow: records that would write, that are unchanged, and that would park,
the parked grouped by the mapping entry they miss ("vendors 'V1042': 17 POs, 8,400.00").

It is plan mode (`engine.flow.write(plan=True)`) on the period read without recording
the reads: nothing is written to either system or to the ledger."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from connector_dagster.engine import flow, registry, text
from connector_dagster.engine.records import Frames, Period
from connector_dagster.engine.session import Session
from connector_dagster.onboarding import uses

_MISSING = re.compile(
    r"(?P<field>[^:;]+?) (?P<code>'[^']*'|\"[^\"]*\")(?: \([^)]*\))? has (?:no|an invalid) "
    r".*? mapping; .*? in the `(?P<kind>\w+)` table"
)


@dataclass
class Group:
    """Parked records that share one cause: a missing mapping entry, or another reason."""

    records: list[str] = field(default_factory=list)
    amount: Decimal = Decimal(0)


@dataclass
class FlowCoverage:
    flow: str
    label: str
    record_label: str
    records: int = 0
    would_write: int = 0
    unchanged: int = 0
    would_park: int = 0
    groups: dict[str, Group] = field(default_factory=dict)
    """`kind 'code'` (a missing entry) or the reason -> the records it parks."""
    parked: dict[str, str] = field(default_factory=dict)
    """Key -> reason of every record that would park."""


def _read(spec: Any, session: Session, period: Period) -> dict[str, Frames]:
    """Every read of the flow for the period, not recorded in the audit log."""
    source = spec.source(session, flow.settings_of(spec, session))
    reads: dict[str, Frames] = {}
    for read in spec.reads:
        reads[read.name] = text.clean_frames(source.read(read.name, period, reads).frames)[0]
    return reads


def flow_coverage(session: Session, flow_name: str, period: Period) -> FlowCoverage:
    spec = registry.flow(flow_name)
    reads = _read(spec, session, period)
    result = flow.write(spec, session, period.key, reads, plan=True)
    report = result.report
    out = FlowCoverage(flow_name, spec.label.split(":", 1)[0], spec.record_label)
    out.records = result.records
    out.would_write = len(result.planned)
    out.unchanged = len(report.skipped)
    out.would_park = len(report.failed)
    amount_of = uses.amount(flow_name)
    settings = flow.settings_of(spec, session)
    items = {i.key: i.data for i in spec.source(session, settings).items(reads)}
    for key, (reason, message) in sorted(report.failed.items()):
        out.parked[key] = reason
        causes = [
            f"{m['kind']} {m['code']}" for m in _MISSING.finditer(message)
        ] if reason == "mapping_missing" else []  # fmt: skip
        amount = amount_of(items[key]) if amount_of and key in items else None
        for cause in dict.fromkeys(causes) or [reason]:
            group = out.groups.setdefault(cause, Group())
            group.records.append(key)
            group.amount += amount or 0
    return out


def coverage(session: Session, period_key: str) -> list[FlowCoverage]:
    """Every enabled flow's coverage of the period."""
    period = Period.parse(period_key)
    return [
        flow_coverage(session, name, period)
        for name, settings in sorted(session.connection.flows.items())
        if settings.enabled
    ]


def as_text(result: list[FlowCoverage]) -> str:
    lines = []
    for f in result:
        lines.append(
            f"{f.label} {f.flow}: {f.records} record(s): {f.would_write} would write, "
            f"{f.unchanged} unchanged, {f.would_park} would park"
        )
        for cause, group in sorted(f.groups.items(), key=lambda g: (-len(g[1].records), g[0])):
            lines.append(
                f"  {cause}: {len(group.records)} {f.record_label}(s), {group.amount:,.2f} "
                f"({', '.join(group.records[:5])}{', ...' if len(group.records) > 5 else ''})"
            )
    return "\n".join(lines)


def as_json(result: list[FlowCoverage]) -> str:
    return json.dumps(
        [
            {
                "flow": f.flow,
                "records": f.records,
                "would_write": f.would_write,
                "unchanged": f.unchanged,
                "would_park": f.would_park,
                "groups": {
                    cause: {"records": g.records, "amount": str(g.amount)}
                    for cause, g in f.groups.items()
                },
            }
            for f in result
        ],
        indent=2,
    )
