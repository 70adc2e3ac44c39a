"""Reconcile a period: for each flow of a connection, the same figures counted three
ways (in the source, in the target, in the ledger), compared by dimension (GL account
x business unit, vendor x business unit, ...) and record by record.

A flow says what its figures are with a `Reconciliation` in its spec: `figures` of a
mapped payload (pure; used for the source, mapped now, and for the ledger's last
written payload), and `target` figures read from the target system for the period
(every record carrying this connection's provenance, each counted, so a source record
written twice shows in the totals and as a duplicate naming each target id). The
period reconciles when every total agrees, no record is unmatched on either side or
held twice in the target, and no failed record is open.

A record changed after its period closed in the target, whose change was written as a
correction in a later period (a flow's `corrections: next_open_period`), counts in its
own period as it was written there (the payload before its first correction) on every
side, while the source still maps to what the ledger last wrote, and is listed apart
(`corrected`); each correction counts in the period it landed in, as a record of its
own (`<key> correction <n>`), the ledger's payload on the source and ledger sides.

A record whose failure a person set aside (resolved or ignored with a note) and that
has not changed since is left out of every side and listed apart (`set_aside`, with
who and why): its difference was accepted. Each reconciliation is kept in
`connector.reconciliations` (the last per period and flow) for finance's page.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from connector_dagster.engine import flow, registry
from connector_dagster.engine.records import Period, correction_key
from connector_dagster.engine.session import Session
from connector_dagster.engine.spec import Dims, Figures, FlowSpec, TargetRecord


@dataclass
class FlowReconciliation:
    flow: str
    label: str
    dimensions: tuple[str, ...]
    counts: dict[str, int] = field(default_factory=dict)
    totals: dict[Dims, dict[str, Decimal]] = field(default_factory=dict)
    """dims -> {"source", "target", "ledger"} amounts."""
    only_in_source: list[str] = field(default_factory=list)
    only_in_target: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)
    """Records in both whose figures differ (key: what differs)."""
    duplicated: list[str] = field(default_factory=list)
    """Source keys the target holds more than once (key and every target id)."""
    open_failed: list[str] = field(default_factory=list)
    set_aside: list[str] = field(default_factory=list)
    """Records left out: their failure was resolved or ignored (key, how, by whom, why)."""
    corrected: list[str] = field(default_factory=list)
    """Records of the period corrected in a later one, and corrections that landed in
    this one (key: which, where)."""

    @property
    def differences(self) -> list[str]:
        """Every difference, one line each; empty when the flow's period reconciles."""
        lines = [
            "{}: source {source}, target {target}, ledger {ledger}".format(
                " x ".join(dims), **shown(t)
            )
            for dims, t in sorted(self.totals.items())
            if not t["source"] == t["target"] == t["ledger"]
        ]
        lines += [f"only in the source: {k}" for k in self.only_in_source]
        lines += [f"only in the target: {k}" for k in self.only_in_target]
        lines += [f"figures differ: {k}" for k in self.different]
        lines += [f"in the target more than once: {k}" for k in self.duplicated]
        lines += [f"open failed record: {k}" for k in self.open_failed]
        return lines

    @property
    def reconciles(self) -> bool:
        return not self.differences

    def as_dict(self) -> dict[str, Any]:
        return {
            "flow": self.flow,
            "reconciles": self.reconciles,
            "counts": self.counts,
            "dimensions": list(self.dimensions),
            "totals": [{"dims": list(dims), **shown(t)} for dims, t in sorted(self.totals.items())],
            "differences": self.differences,
            "set_aside": self.set_aside,
            "corrected": self.corrected,
        }


CENT = Decimal("0.01")


def shown(row: Mapping[str, Decimal]) -> dict[str, str]:
    """One total's sides as text, alike: with cents on every side when one side has
    decimals and none loses any (IFS answers 1212 for the 1212.00 written), else as
    they are; a count stays a whole number."""
    cents = any(v.as_tuple().exponent < 0 for v in row.values()) and all(
        v == v.quantize(CENT) for v in row.values()
    )
    return {side: str(v.quantize(CENT) if cents else v) for side, v in row.items()}


def _add(into: dict[Dims, dict[str, Decimal]], side: str, figures: Mapping[Dims, Decimal]) -> None:
    for dims, amount in figures.items():
        row = into.setdefault(dims, {"source": Decimal(0), "target": Decimal(0),
                                     "ledger": Decimal(0)})  # fmt: skip
        row[side] += amount


def reconcile_flow(spec: FlowSpec, session: Session, period: Period) -> FlowReconciliation:
    """The flow's period, counted in the source, the target and the ledger."""
    assert spec.reconcile is not None
    rec = spec.reconcile
    settings = flow.settings_of(spec, session)
    result = FlowReconciliation(spec.name, spec.label, rec.dimensions)

    reads = flow.read_period(spec, session, period)
    items = spec.source(session, settings).items(reads)
    records = flow.to_records(spec, items, session.mappings(), settings, period.key)
    source = {r.key: rec.figures(r.payload) for r in records if r.op == "upsert" and r.payload}
    unmappable = {r.key for r in records if r.problem is not None}
    target = _by_key(rec.target(session, settings, period))
    ledger = session.store.ledger_for_partition(session.name, spec.name, period.key)
    aside = _set_aside(records, ledger)
    if aside:
        source = {k: v for k, v in source.items() if k not in aside}
        unmappable -= aside
        target = {k: v for k, v in target.items() if k not in aside}
        ledger = {k: v for k, v in ledger.items() if k not in aside}
        result.set_aside = _why_set_aside(session, spec.name, period.key, aside)
    synced = {
        k: e
        for k, e in ledger.items()
        if e.status == "synced" and e.last_payload is not None and _upsert(records, k)
    }
    posted_here, landed = _corrections(session, spec, period, records, synced, source, result)
    for figures in source.values():
        _add(result.totals, "source", figures)
    for found in target.values():
        for _, figures in found:
            _add(result.totals, "target", figures)
    for key, entry in synced.items():
        _add(result.totals, "ledger", rec.figures(posted_here.get(key, entry.last_payload)))
    for _, payload in landed.values():
        _add(result.totals, "ledger", rec.figures(payload))

    expected = set(source) | unmappable
    result.only_in_source = sorted(expected - set(target))
    result.only_in_target = sorted(set(target) - expected)
    result.duplicated = [
        f"{key} (target {', '.join(target_id for target_id, _ in found)})"
        for key, found in sorted(target.items())
        if len(found) > 1
    ]
    for key in sorted(set(source) & set(target)):
        if len(target[key]) > 1:
            continue
        [(target_id, figures)] = target[key]
        if figures != source[key]:
            result.different.append(f"{key} (target {target_id})")
        elif key in ledger and ledger[key].target_id not in (None, target_id):
            result.different.append(f"{key} (ledger names {ledger[key].target_id}, "
                                    f"the target holds {target_id})")  # fmt: skip
        elif key in landed and landed[key][0] != target_id:
            result.different.append(f"{key} (ledger names {landed[key][0]}, "
                                    f"the target holds {target_id})")  # fmt: skip
    failed = session.store.failed(connection=session.name, flow=spec.name, partition_key=period.key)
    result.open_failed = [f"{f.source_key} ({f.reason})" for f in failed]
    result.counts = {
        "source_records": len(expected),
        "target_records": sum(len(found) for found in target.values()),
        "ledger_synced": len(synced),
        "open_failed": len(failed),
        **({"set_aside": len(aside)} if aside else {}),
        **({"corrected_later": len(posted_here)} if posted_here else {}),
        **({"corrections": len(landed)} if landed else {}),
    }
    return result


def _corrections(
    session: Session,
    spec: FlowSpec,
    period: Period,
    records: list[Any],
    synced: Mapping[str, Any],
    source: dict[str, Figures],
    result: FlowReconciliation,
) -> tuple[dict[str, Any], dict[str, tuple[str, Any]]]:
    """The period's records corrected in a later period: key -> the payload written in
    this one (their source figures set to it while the source maps to what the ledger
    last wrote); and the corrections that landed in this period: their key -> (target
    id, payload), each added to `source`. Both listed in `result.corrected`."""
    assert spec.reconcile is not None
    figures = spec.reconcile.figures
    store = session.store
    hashes = {r.key: r.payload_hash for r in records}
    posted_here: dict[str, Any] = {}
    for key, corrections in sorted(
        store.corrections(session.name, spec.name, of=period.key).items()
    ):
        if key not in synced:
            continue
        posted_here[key] = corrections[0].before
        if hashes.get(key) == synced[key].payload_hash:
            source[key] = figures(corrections[0].before)
        result.corrected += [f"{key}: {c.note}" for c in corrections]
    landed: dict[str, tuple[str, Any]] = {}
    for key, corrections in sorted(store.corrections(session.name, spec.name,
                                                     landed=period.key).items()):  # fmt: skip
        for c in corrections:
            name = correction_key(key, c.seq)
            landed[name] = (c.target_id, c.payload)
            source[name] = figures(c.payload)
            result.corrected.append(f"{name}: {c.note}")
    return posted_here, landed


def _set_aside(records: list[Any], ledger: Mapping[str, Any]) -> set[str]:
    """Keys whose failure a person set aside, unchanged since: the same payload from the
    same source version (a record gone from the source, its cancel)."""
    from connector_dagster.engine.records import Outbound

    keys = {
        r.key
        for r in records
        if r.key in ledger and ledger[r.key].set_aside(r.payload_hash, r.source_version)
    }
    gone = Outbound("", "", None, op="cancel").payload_hash
    present = {r.key for r in records}
    keys |= {k for k, e in ledger.items() if k not in present and e.set_aside(gone, None)}
    return keys


def _why_set_aside(session: Session, flow_name: str, period_key: str, keys: set[str]) -> list[str]:
    """`KEY (ignored by NAME: note)`, from each record's last resolution by a person."""
    why: dict[str, str] = {}
    for f in session.store.failed(session.name, flow_name, period_key, include_resolved=True):
        if f.source_key in keys and f.resolution is not None:
            why[f.source_key] = f"{f.source_key} ({f.resolution} by {f.resolved_by}: " \
                                f"{f.resolution_note})"  # fmt: skip
    return [why.get(k, k) for k in sorted(keys)]


def _by_key(found: Iterable[TargetRecord]) -> dict[str, list[tuple[str, Figures]]]:
    """The target's records by source key, every one kept, in the order read."""
    by_key: dict[str, list[tuple[str, Figures]]] = defaultdict(list)
    for key, target_id, figures in found:
        by_key[key].append((target_id, figures))
    return dict(by_key)


def _upsert(records: list[Any], key: str) -> bool:
    """Whether the source still has `key` to be written (a cancelled record's last
    payload no longer counts)."""
    return any(r.key == key and r.op == "upsert" for r in records)


def reconcile(
    session: Session, period_key: str, flow_name: str | None = None
) -> list[FlowReconciliation]:
    """Every flow the connection runs that can be reconciled (or only `flow_name`), for
    one period."""
    period = Period.parse(period_key)
    results = [
        reconcile_flow(spec, session, period)
        for name, spec in sorted(registry.flows().items())
        if spec.reconcile is not None
        and session.connection.flow(name) is not None
        and flow_name in (None, name)
    ]
    session.store.save_reconciliations(
        session.name,
        period.key,
        [(r.flow, r.reconciles, r.differences, r.counts) for r in results],
    )
    return results


def total_counts(results: list[FlowReconciliation]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for result in results:
        counts.update(result.counts)
    return counts
