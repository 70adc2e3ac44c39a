"""Replay failed records: re-read each from its source (so a fix made there is seen),
map it with the mappings in force, and write it through the same protocol.

Works for every flow: the records' periods are read again with the flow's own
read steps and only the failed keys are written. What succeeds is resolved (with
its audit rows); what fails again stays, one attempt more. A record its source
no longer syncs is resolved with an audit row saying so; one its source no longer
has stays, saying that.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from connector_dagster.engine import flow, registry
from connector_dagster.engine.records import Period
from connector_dagster.engine.session import Session
from connector_dagster.lib.store import Audit, FailedRecord, RecordRef


@dataclass
class PeriodReplay:
    """What replaying one flow's failed records of one period did."""

    flow: str
    period: str
    replayed: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    failed_again: dict[str, str] = field(default_factory=dict)
    """key -> reason: message, as parked again."""
    not_synced: list[str] = field(default_factory=list)
    """Resolved without a write: the source record no longer syncs (state, say)."""
    gone: list[str] = field(default_factory=list)
    """Still failed: the source no longer has the record."""

    def as_dict(self) -> dict[str, object]:
        return {
            "flow": self.flow,
            "period": self.period,
            "replayed": len(self.replayed),
            "resolved": len(self.resolved),
            "failed_again": len(self.failed_again),
            "not_synced": len(self.not_synced),
            "gone": len(self.gone),
            "failures": [f"{k}: {why}" for k, why in self.failed_again.items()],
        }


def selected(
    session: Session,
    flow_name: str | None = None,
    period: str | None = None,
    reason: str | None = None,
    keys: Iterable[str] | None = None,
) -> list[FailedRecord]:
    """The connection's open failed records matching the filters."""
    rows = session.store.failed(
        connection=session.name, flow=flow_name, partition_key=period, reason=reason
    )
    wanted = set(keys) if keys else None
    return [r for r in rows if wanted is None or r.source_key in wanted]


def replay(
    session: Session,
    flow_name: str | None = None,
    period: str | None = None,
    reason: str | None = None,
    keys: Iterable[str] | None = None,
    run_id: str | None = None,
) -> list[PeriodReplay]:
    """Replay the matching open failed records, a flow's period at a time."""
    groups: dict[tuple[str, str], list[FailedRecord]] = defaultdict(list)
    for record in selected(session, flow_name, period, reason, keys):
        groups[(record.flow, record.partition_key or "")].append(record)
    return [
        _replay_period(session, flow_key, period_key, records, run_id)
        for (flow_key, period_key), records in sorted(groups.items())
    ]


def _replay_period(
    session: Session,
    flow_name: str,
    period_key: str,
    records: list[FailedRecord],
    run_id: str | None,
) -> PeriodReplay:
    spec = registry.flow(flow_name)
    result = PeriodReplay(flow_name, period_key, replayed=[r.source_key for r in records])
    keys = set(result.replayed)
    reads = flow.read_period(spec, session, Period.parse(period_key), run_id)
    items = {i.key for i in spec.source(session, flow.settings_of(spec, session)).items(reads)}
    written = flow.write(spec, session, period_key, reads, run_id, only=keys)
    still_open = {
        r.source_key for r in session.store.failed(connection=session.name, flow=flow_name)
    }
    for record in records:
        key = record.source_key
        ref = RecordRef(session.name, flow_name, key)
        if key not in still_open:
            result.resolved.append(key)
        elif key in written.report.failed:
            reason, message = written.report.failed[key]
            result.failed_again[key] = f"{reason}: {message}"
        elif key in written.report.leased:
            result.failed_again[key] = "left to another run that holds its lease; replay later"
        elif key in items:
            session.store.resolve_failed(record.id)
            session.store.record_skip(
                ref,
                Audit("resolve", run_id=run_id, partition_key=period_key,
                      error="replayed: the source record no longer syncs, nothing to write"),
            )  # fmt: skip
            result.not_synced.append(key)
        else:
            session.store.record_failed(
                ref,
                reason=record.reason,
                message=f"{spec.record_label} {key!r} is no longer in {period_key[:7]} of the "
                f"source (deleted, or moved to another period); earlier: {record.message}",
                payload=record.payload,
                audit=Audit("fail", run_id=run_id, partition_key=period_key,
                            error="replayed: not found in the source"),
            )  # fmt: skip
            result.gone.append(key)
    return result
