"""Running a flow's steps outside Dagster's wiring: read a period, map its records,
write them through the protocol. The assets call these; so can replay and plans."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from connector_dagster import systems
from connector_dagster.engine import live, text
from connector_dagster.engine.bounds import Bounds, out_of_bounds
from connector_dagster.engine.money import by_measure
from connector_dagster.engine.plan import PlannedWrite, PlanTarget, ReadOnlyStore
from connector_dagster.engine.protocols import ChangeCheck, LedgerStore, Target
from connector_dagster.engine.records import Frames, Item, Outbound, Period, Read
from connector_dagster.engine.session import Session
from connector_dagster.engine.spec import FlowSpec
from connector_dagster.engine.sync import Syncer, SyncReport, WriteStopped, refused
from connector_dagster.lib.errors import ApiError, ErrorKind
from connector_dagster.lib.mapping import Mappings
from connector_dagster.lib.settings import ConfigError

CLEANED_SHOWN = 50
"""Cells cleaned named in a read's metadata; the rest are counted."""


def settings_of(spec: FlowSpec, session: Session) -> object:
    """The flow's settings on this connection; ConfigError if it does not run it."""
    settings = session.connection.flow(spec.name)
    if settings is None:
        raise ConfigError(
            f"connection {session.name!r} does not run flow {spec.name!r}: add it under "
            f"`flows:` of the connection (or set enabled: true)"
        )
    return settings


def read(
    spec: FlowSpec,
    session: Session,
    name: str,
    period: Period,
    upstream: Mapping[str, Frames],
    run_id: str | None = None,
) -> Read:
    """Read asset `name` of the flow for `period`, each record read audited. Text no
    store or target can hold (a NUL) is cleaned, and each cell cleaned is named in the
    metadata (`cleaned_text`, `cleaned_text_where`)."""
    source = spec.source(session, settings_of(spec, session))
    result = source.read(name, period, upstream)
    frames, cleaned = text.clean_frames(result.frames)
    versions = [(text.clean_value(k), v) for k, v in result.versions]
    session.store.record_reads(session.name, spec.name, versions, run_id, period.key)
    if not cleaned:
        return result
    metadata = {
        **result.metadata,
        "cleaned_text": len(cleaned),
        "cleaned_text_where": cleaned[:CLEANED_SHOWN],
    }
    return Read(frames, versions, metadata)


def read_period(
    spec: FlowSpec, session: Session, period: Period, run_id: str | None = None
) -> dict[str, Frames]:
    """Every read step of the flow for the period, in order (each sees those before):
    what the flow's read assets hand its write step."""
    reads: dict[str, Frames] = {}
    for step in spec.reads:
        reads[step.name] = read(spec, session, step.name, period, reads, run_id).frames
    return reads


def to_records(
    spec: FlowSpec,
    items: list[Item],
    maps: Mappings,
    settings: object,
    period_key: str,
    notes: dict[str, str] | None = None,
) -> list[Outbound]:
    """Map each item (pure); the ones the flow does not sync are left out (their
    notes, if any, collected in `notes`). A payload with an amount or quantity out of
    the flow's bounds (its `bounds` settings) is a `validation` problem, never written."""
    records = []
    bounds = getattr(settings, "bounds", None) or Bounds()
    fix_in = systems.get(spec.reads[0].system).title
    for item in items:
        mapped = spec.map(item, maps, settings)
        if spec.amounts is not None and mapped.op == "upsert" and mapped.payload is not None:
            who = f"{spec.record_label} {item.key!r}"
            found = out_of_bounds(mapped.payload, spec.amounts, bounds, who, fix_in, spec.name)
            mapped.problems.extend(("validation", problem) for problem in found)
        if mapped.op == "ignore":
            if mapped.note and notes is not None:
                notes[item.key] = mapped.note
            continue
        records.append(
            Outbound(
                item.key,
                period_key,
                mapped.payload,
                item.version,
                mapped.problem,
                op=mapped.op,
                context=item.data if not isinstance(item.data, dict) else dict(item.data),
            )
        )
    return records


def vanished(
    spec: FlowSpec, session: Session, period_key: str, present: set[str]
) -> list[Outbound]:
    """Cancels for the records written to the target for this period whose source
    record is gone (deleted in the source system)."""
    ledger = session.store.ledger_for_partition(session.name, spec.name, period_key, payloads=False)
    return [
        Outbound(key, period_key, None, None, op="cancel", context={"vanished": True})
        for key, entry in sorted(ledger.items())
        if key not in present and entry.target_id is not None
    ]


def syncer(
    spec: FlowSpec,
    session: Session,
    target: Target,
    *,
    store: LedgerStore | None = None,
    source: ChangeCheck | None = None,
    run_id: str | None = None,
    mapping_version: str | None = None,
    workers: int | None = None,
) -> Syncer:
    """The write protocol of `spec` on this connection, as its write step runs it: the
    connection's ledger (`store`: a plan's read-only one) and lease terms, the flow's
    record label, the source's change check (`source`), `workers` writer threads
    (default: the protocol's)."""
    return Syncer(
        store or session.store,
        target,
        session.name,
        spec.name,
        run_id=run_id,
        mapping_version=mapping_version,
        label=spec.record_label,
        source=source,
        terms=session.lease_terms(),
        **({"workers": workers} if workers else {}),
    )


@dataclass(frozen=True)
class WriteResult:
    report: SyncReport
    records: int
    mapping_version: str
    notes: dict[str, str]
    """Items not written for a reason worth reporting (key -> note)."""
    planned: list[PlannedWrite] = field(default_factory=list)
    """In plan mode: the writes a real run would send (none was sent)."""
    ops: dict[str, int] = field(default_factory=dict)
    """Records of the run by operation: `upsert` (to be in the target, as `reconcile`
    counts the source), `cancel`, `link`."""
    source_money: dict[str, Decimal] = field(default_factory=dict)
    """The run's mapped payloads to be in the target, summed per measure."""
    upserts: frozenset[str] = frozenset()
    """Keys of the records to be in the target."""


def write(
    spec: FlowSpec,
    session: Session,
    period_key: str,
    reads: Mapping[str, Frames],
    run_id: str | None = None,
    *,
    plan: bool = False,
    only: set[str] | None = None,
) -> WriteResult:
    """Write the period's records read by the flow's read assets into the target.

    `plan`: map, validate, check and look up as a real run, then list the writes it
    would send and send none (the ledger is not changed; mapping entries a flow
    would create first are not created, so their records show as mapping_missing).
    Either way the flow's `live` tables are first checked against the systems' master
    data, read once here: a stale entry's records park as `mapping_stale`.
    `only`: write just these keys (a replay)."""
    settings = settings_of(spec, session)
    maps = session.mappings()
    source = spec.source(session, settings)
    items = source.items({name: text.clean_frames(frames)[0] for name, frames in reads.items()})
    if only is not None:
        items = [i for i in items if i.key in only]
    try:
        if spec.prepare is not None and not plan:
            maps = spec.prepare(session, settings, items, maps)
        if items:
            maps = live.checked(spec.live, session, maps)
    except ApiError as exc:
        if exc.kind is not ErrorKind.AUTH:
            raise
        raise WriteStopped(
            f"{spec.name} {period_key[:7]} on {session.name}: stopped before writing: "
            f"{refused(session.name, exc)}; nothing was sent; re-run the period once the "
            "cause is fixed"
        ) from None
    notes: dict[str, str] = {}
    records = to_records(spec, items, maps, settings, period_key, notes)
    if spec.cancel_vanished:
        gone = vanished(spec, session, period_key, {i.key for i in items})
        records += [r for r in gone if only is None or r.key in only]
    target = spec.target(session, settings)
    planner = PlanTarget(target) if plan else None
    report = syncer(
        spec,
        session,
        planner or target,
        store=ReadOnlyStore(session.store) if plan else None,
        source=source,
        run_id=run_id,
        mapping_version=maps.version,
        workers=getattr(target, "writers", None),
    ).run(records)
    planned = sorted(planner.writes, key=lambda w: w.key) if planner else []
    upserts = [r for r in records if r.op == "upsert"]
    return WriteResult(
        report, len(records), maps.version, notes, planned,
        ops=dict(Counter(r.op for r in records)),
        source_money=by_measure(spec, (r.payload for r in upserts if r.payload is not None)),
        upserts=frozenset(r.key for r in upserts),
    )  # fmt: skip
