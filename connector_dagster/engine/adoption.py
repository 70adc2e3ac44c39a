"""Adoption, for flow authors: of the target records that resemble a source record,
the one this connector provably wrote, or why none may be adopted (DESIGN §3).

A target's look-up gathers its candidates, each with the ways it differs from what
was sent (none: it is exactly that), and the weaker matches (a natural key alone);
`judge` turns them into a target id, an `Ambiguous` (a `conflict` naming every id and
the fix), or None (nothing resembles the record: it is created).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connector_dagster.engine.records import Ambiguous, Outbound
from connector_dagster.engine.sync import LOOKUP_SKEW


@dataclass(frozen=True)
class Conflicts:
    """How a target names its records and the fixes in a conflict's message."""

    things: str
    """The target's records, e.g. "ServiceTitan PO(s)"."""
    several_fix: str
    """When several are each exactly what was sent, e.g. "cancel the extra ones"."""
    resembling: str
    """What the look-alikes carry, e.g. "carry a copy of this connection's marker"."""
    resembling_fix: str
    """What a person does about a look-alike."""
    weak: str = ""
    """What weaker matches share, e.g. "have vendor invoice number 'PO-1' but not this
    connector's marker"."""
    weak_fix: str = ""


def judge(
    why: Mapping[str, Sequence[str]], weak: Sequence[str] = (), *, say: Conflicts
) -> str | Ambiguous | None:
    """The one candidate that differs in nothing, else why none can be adopted; None
    when there is no candidate at all. `why`: candidate id -> how it differs."""
    ours = [target_id for target_id, differs in why.items() if not differs]
    if len(ours) == 1:
        return ours[0]
    if ours:
        return Ambiguous(
            f"{say.things} {', '.join(ours)} are each exactly what this connector sent for "
            f"it; {say.several_fix}, then replay this record"
        )
    if why:
        reasons = "; ".join(f"{target_id}: {', '.join(d)}" for target_id, d in why.items())
        return Ambiguous(
            f"{say.things} {', '.join(why)} {say.resembling} but are not what this connector "
            f"sent ({reasons}), so none is adopted or changed and nothing is written beside "
            f"them; {say.resembling_fix}; then replay this record"
        )
    if weak:
        return Ambiguous(
            f"{say.things} {', '.join(weak)} {say.weak}, so none is adopted or changed; "
            f"{say.weak_fix}; then replay this record"
        )
    return None


def made_before_intent(record: Outbound, created_on: Any) -> str | None:
    """Why a candidate cannot be the record's: the target says it was made (its
    `createdOn`, an ISO instant) before this connector first intended to create the
    record, less `LOOKUP_SKEW` for the two clocks. None when it could be."""
    if record.intended_at is None:
        return None
    try:
        made = datetime.fromisoformat(str(created_on).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        made = None
    if made is not None and made >= record.intended_at - LOOKUP_SKEW:
        return None
    return (
        f"it was made {created_on or 'at an unknown time'}, before this record's create "
        f"was first intended ({record.intended_at.isoformat()})"
    )
