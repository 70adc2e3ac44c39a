"""What finance's page shows, read from the connector's tables (`connector.*`): the grid
of periods x flows, the queue of failed records, and one record's trace. No API call."""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from connector_dagster import systems
from connector_dagster.engine import registry
from connector_dagster.engine.records import Outbound
from connector_dagster.engine.spec import FlowSpec
from connector_dagster.lib.store import Store

CANCELLED = Outbound("", "", None, op="cancel").payload_hash
"""The ledger's hash of a record whose target record was cancelled: no money left."""

SEARCH_LIMIT = 20
QUEUE_LIMIT = 1000


def flows_of(connection: str) -> list[FlowSpec]:
    """The flows the connection runs, in the order of their labels (F1..F5)."""
    conn = registry.connection(connection)
    specs = [s for n, s in registry.flows().items() if conn.flow(n) is not None]
    return sorted(specs, key=lambda s: s.label)


def money(spec: FlowSpec, payload: Any) -> Decimal | None:
    """A payload's document total by the flow's own rule; None when it has none (a
    payload that failed mapping)."""
    if spec.amounts is None or spec.amounts.total is None or not isinstance(payload, dict):
        return None
    try:
        total = spec.amounts.total(payload)
    except (KeyError, TypeError, ArithmeticError):
        return None
    return total if total.is_finite() else None


@dataclass
class Cell:
    """One flow's period."""

    flow: str
    period: str
    synced: int = 0
    pending: int = 0
    failed: int = 0
    """Open failed records."""
    set_aside: int = 0
    synced_amount: Decimal = Decimal(0)
    failed_amount: Decimal | None = None
    """None when no failed record has a payload to total (mapping failed)."""
    last_change: datetime | None = None
    reconciles: bool | None = None
    """The last reconciliation's verdict; None if never reconciled."""
    differences: int = 0
    difference_lines: list[str] = field(default_factory=list)
    reconciled_at: datetime | None = None

    @property
    def empty(self) -> bool:
        return not (self.synced or self.pending or self.failed or self.set_aside) and (
            self.reconciles is None
        )

    @property
    def stale(self) -> bool:
        """Reconciled before the last change to the period's records."""
        return (
            self.reconciled_at is not None
            and self.last_change is not None
            and self.last_change > self.reconciled_at
        )

    @property
    def state(self) -> str:
        """red (open failures), differences, reconciles, or synced (not reconciled since
        the last change)."""
        if self.failed:
            return "red"
        if self.reconciles is None or self.stale:
            return "synced"
        return "reconciles" if self.reconciles else "differences"


@dataclass
class Grid:
    connection: str
    flows: list[FlowSpec]
    periods: list[str]
    cells: dict[tuple[str, str], Cell]

    def cell(self, period: str, flow: str) -> Cell:
        return self.cells.get((flow, period)) or Cell(flow, period)

    def rows(self) -> list[dict[str, Any]]:
        """One row per non-empty cell, for the CSV."""
        out = []
        for period in self.periods:
            for spec in self.flows:
                c = self.cell(period, spec.name)
                if c.empty:
                    continue
                out.append({
                    "connection": self.connection, "period": period[:7], "flow": spec.name,
                    "state": c.state, "synced": c.synced, "pending": c.pending,
                    "open_failed": c.failed, "set_aside": c.set_aside,
                    "synced_amount": c.synced_amount,
                    "failed_amount": "" if c.failed_amount is None else c.failed_amount,
                    "reconciles": "" if c.reconciles is None else c.reconciles,
                    "differences": c.differences,
                    "reconciled_at": c.reconciled_at or "", "stale": c.stale,
                })  # fmt: skip
        return out


class Totals:
    """The money synced per flow and period, kept between page loads: a cell's payloads
    are read and totalled again only when its ledger rows changed (their count, latest
    change or the sum of their hashes and states: a write committed late with an earlier
    time changes the sum), so a page of many periods reads only what moved."""

    def __init__(self) -> None:
        self._kept: dict[tuple[str, str, str], tuple[tuple[Any, ...], Decimal]] = {}
        self._lock = threading.Lock()

    def synced(
        self, store: Store, spec: FlowSpec, connection: str, period: str, seen: tuple[Any, ...]
    ) -> Decimal:
        key = (connection, spec.name, period)
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and kept[0] == seen:
            return kept[1]
        with store.cursor() as cur:
            cur.execute(
                """SELECT last_payload FROM connector.sync_ledger
                    WHERE connection = %s AND flow = %s AND partition_key = %s
                      AND status = 'synced' AND payload_hash <> %s""",
                (connection, spec.name, period, CANCELLED),
            )
            total = sum((money(spec, row[0]) or Decimal(0) for row in cur), Decimal(0))
        with self._lock:
            self._kept[key] = (seen, total)
        return total


def grid(store: Store, connection: str, totals: Totals | None = None) -> Grid:
    """Every period x flow of the connection that holds a record, a failure or a
    reconciliation, newest period first."""
    specs = flows_of(connection)
    by_name = {s.name: s for s in specs}
    totals = totals or Totals()
    cells: dict[tuple[str, str], Cell] = {}

    def cell(flow: str, period: str) -> Cell:
        return cells.setdefault((flow, period), Cell(flow, period))

    with store.cursor() as cur:
        cur.execute(
            """SELECT flow, partition_key, count(*) FILTER (WHERE status = 'synced'),
                      count(*) FILTER (WHERE status = 'pending'),
                      count(*) FILTER (WHERE set_aside_hash IS NOT NULL),
                      count(*), max(updated_at),
                      sum(hashtext(status || coalesce(payload_hash, '')))
                 FROM connector.sync_ledger
                WHERE connection = %s AND partition_key IS NOT NULL
                GROUP BY flow, partition_key""",
            (connection,),
        )
        for flow, period, synced, pending, aside, rows, changed, digest in cur.fetchall():
            if flow not in by_name:
                continue
            c = cell(flow, period)
            c.synced, c.pending, c.set_aside, c.last_change = synced, pending, aside, changed
            if synced:
                seen = (rows, changed, digest)
                c.synced_amount = totals.synced(store, by_name[flow], connection, period, seen)
        cur.execute(
            """SELECT flow, partition_key, payload -> 'payload'
                 FROM connector.failed_records
                WHERE connection = %s AND NOT resolved AND partition_key IS NOT NULL""",
            (connection,),
        )
        for flow, period, payload in cur.fetchall():
            if flow in by_name:
                c = cell(flow, period)
                c.failed += 1
                amount = money(by_name[flow], payload)
                if amount is not None:
                    c.failed_amount = (c.failed_amount or Decimal(0)) + amount
        cur.execute(
            """SELECT flow, partition_key, reconciles, differences, lines, reconciled_at
                 FROM connector.reconciliations WHERE connection = %s""",
            (connection,),
        )
        for flow, period, reconciles, differences, lines, at in cur.fetchall():
            if flow in by_name:
                c = cell(flow, period)
                c.reconciles, c.differences, c.difference_lines = reconciles, differences, lines
                c.reconciled_at = at
    periods = sorted({p for _, p in cells}, reverse=True)
    return Grid(connection, specs, periods, cells)


@dataclass(frozen=True)
class QueueRow:
    id: int
    connection: str
    flow: str
    label: str
    source_key: str
    period: str
    reason: str
    message: str
    attempts: int
    amount: Decimal | None
    first_failed_at: datetime
    last_failed_at: datetime
    resolution: str | None
    resolved_by: str | None
    resolution_note: str | None
    resolved_at: datetime | None

    def as_row(self) -> dict[str, Any]:
        return {
            "id": self.id, "connection": self.connection, "flow": self.flow,
            "source_key": self.source_key, "period": self.period[:7], "reason": self.reason,
            "message": self.message, "attempts": self.attempts,
            "amount": "" if self.amount is None else self.amount,
            "first_failed_at": self.first_failed_at, "last_failed_at": self.last_failed_at,
            "resolution": self.resolution or "", "resolved_by": self.resolved_by or "",
            "note": self.resolution_note or "", "resolved_at": self.resolved_at or "",
        }  # fmt: skip


def queue(
    store: Store,
    connection: str,
    *,
    reason: str | None = None,
    flow: str | None = None,
    period: str | None = None,
    set_aside: bool = False,
) -> tuple[list[QueueRow], int]:
    """Open failed records (or, with `set_aside`, those a person resolved or ignored),
    newest first, at most QUEUE_LIMIT; and how many match in all."""
    specs = {s.name: s for s in flows_of(connection)}
    clauses = ["connection = %s"]
    args: list[Any] = [connection]
    clauses.append("resolution IS NOT NULL" if set_aside else "NOT resolved")
    for column, value in (("reason", reason), ("flow", flow), ("partition_key", period)):
        if value:
            clauses.append(f"{column} = %s")
            args.append(value)
    where = " AND ".join(clauses)
    with store.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM connector.failed_records WHERE {where}", args)  # noqa: S608
        total = cur.fetchone()[0]
        cur.execute(
            f"""SELECT id, connection, flow, source_key, coalesce(partition_key, ''), reason,
                       message, attempts, payload -> 'payload', first_failed_at,
                       last_failed_at, resolution, resolved_by, resolution_note, resolved_at
                  FROM connector.failed_records WHERE {where}
                 ORDER BY coalesce(resolved_at, last_failed_at) DESC, id DESC
                 LIMIT %s""",  # noqa: S608
            [*args, QUEUE_LIMIT],
        )
        rows = []
        for r in cur.fetchall():
            spec = specs.get(r[2])
            amount = money(spec, r[8]) if spec else None
            label = spec.label if spec else r[2]
            rows.append(QueueRow(*r[:3], label, *r[3:8], amount, *r[9:]))
    return rows, total


@dataclass
class FlowTrace:
    """One record of one flow: where it came from, each attempt, where it went."""

    flow: str
    label: str
    source_system: str
    target_system: str
    record_label: str
    ledger: dict[str, Any] | None
    attempts: list[dict[str, Any]]
    failures: list[dict[str, Any]]
    runs: list[dict[str, Any]]


@dataclass
class Trace:
    key: str
    flows: list[FlowTrace]
    similar: list[tuple[str, str]]
    """(flow, key) of records whose key contains the one asked for, when none matched."""

    def rows(self) -> list[dict[str, Any]]:
        """Every attempt of every flow, for the CSV."""
        return [
            {"flow": f.flow, "source_key": self.key, **{k: v for k, v in a.items() if k != "id"}}
            for f in self.flows
            for a in f.attempts
        ]


def trace(store: Store, connection: str, key: str) -> Trace:
    """Where the record `key` is, in every flow of the connection that knows it."""
    specs = {s.name: s for s in flows_of(connection)}
    flows: dict[str, FlowTrace] = {}

    def flow_trace(name: str) -> FlowTrace:
        if name not in flows:
            spec = specs.get(name)
            flows[name] = FlowTrace(
                name,
                spec.label if spec else name,
                systems.get(spec.reads[0].system).title if spec else "?",
                systems.get(spec.write.system).title if spec else "?",
                spec.record_label if spec else "record",
                None, [], [], [],
            )  # fmt: skip
        return flows[name]

    with store.cursor() as cur:
        cur.execute(
            """SELECT flow, status, target_id, partition_key, mapping_version, source_version,
                      attempts, payload_hash, last_payload, last_error, created_at, updated_at,
                      set_aside_hash IS NOT NULL AS set_aside
                 FROM connector.sync_ledger WHERE connection = %s AND source_key = %s""",
            (connection, key),
        )
        cols = [d[0] for d in cur.description]
        for row in cur.fetchall():
            entry = dict(zip(cols, row, strict=True))
            spec = specs.get(entry["flow"])
            entry["amount"] = money(spec, entry["last_payload"]) if spec else None
            flow_trace(entry["flow"]).ledger = entry
        cur.execute(
            """SELECT id, flow, at, run_id, partition_key, action, target_id, http_status,
                      hash_before, hash_after, error, actor, note
                 FROM connector.audit_log WHERE connection = %s AND source_key = %s
                ORDER BY id""",
            (connection, key),
        )
        cols = [d[0] for d in cur.description]
        for row in cur.fetchall():
            attempt = dict(zip(cols, row, strict=True))
            flow_trace(attempt.pop("flow")).attempts.append(attempt)
        cur.execute(
            """SELECT id, flow, partition_key, reason, message, attempts, payload,
                      payload_hash, first_failed_at, last_failed_at, resolved, resolved_at,
                      resolution, resolved_by, resolution_note
                 FROM connector.failed_records WHERE connection = %s AND source_key = %s
                ORDER BY id""",
            (connection, key),
        )
        cols = [d[0] for d in cur.description]
        for row in cur.fetchall():
            failure = dict(zip(cols, row, strict=True))
            flow_trace(failure.pop("flow")).failures.append(failure)
        similar: list[tuple[str, str]] = []
        if not flows and key:
            pattern = "%" + key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            cur.execute(
                """SELECT DISTINCT flow, source_key FROM connector.sync_ledger
                    WHERE connection = %s AND source_key ILIKE %s
                    ORDER BY source_key LIMIT %s""",
                (connection, pattern, SEARCH_LIMIT),
            )
            similar = [tuple(r) for r in cur.fetchall()]  # type: ignore[misc]
    for f in flows.values():
        f.runs = _runs(f.attempts)
        _link_payloads(f)
    return Trace(key, sorted(flows.values(), key=lambda f: f.label), similar)


def _runs(attempts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each run that touched the record: its first and last moment and what it did."""
    runs: dict[str, dict[str, Any]] = {}
    for a in attempts:
        if not a["run_id"]:
            continue
        run = runs.setdefault(
            a["run_id"], {"run_id": a["run_id"], "first": a["at"], "last": a["at"],
                          "period": a["partition_key"], "actions": defaultdict(int)},
        )  # fmt: skip
        run["last"] = a["at"]
        run["actions"][a["action"]] += 1
    for run in runs.values():
        run["actions"] = ", ".join(f"{k} {v}" for k, v in run["actions"].items())
    return list(runs.values())


def _link_payloads(f: FlowTrace) -> None:
    """Give each attempt the payload it sent and the answer, where the connector kept
    them: the ledger keeps the last payload written (shown on the write whose hash it
    has); a failed record keeps the payload and the target's answer of its latest
    attempt (shown on that attempt, which shares its time)."""
    written = f.ledger["payload_hash"] if f.ledger and f.ledger["last_payload"] else None
    latest = {x["last_failed_at"]: x for x in f.failures}
    for a in f.attempts:
        a["payload"] = a["answer"] = None
        if a["action"] in ("create", "update", "cancel") and a["hash_after"] == written:
            a["payload"] = f.ledger["last_payload"]  # type: ignore[index]
        elif a["action"] == "fail" and a["at"] in latest:
            kept = latest[a["at"]]["payload"]
            if isinstance(kept, dict):
                a["payload"], a["answer"] = kept.get("payload"), kept.get("error")
