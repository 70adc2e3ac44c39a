"""The connector's state in PostgreSQL: sync ledger, audit log, failed records, cursors.

Every state change of a record and its audit row are written in one
transaction, so the ledger and the audit trail never disagree.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg2.extensions
import psycopg2.pool
from psycopg2.extras import Json as _Json
from psycopg2.extras import execute_values

if TYPE_CHECKING:
    from connector_dagster.lib.leases import Leases, LeaseTerms

from connector_dagster.lib.db import SESSION_OPTIONS, libpq_url

_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")
"""A JSON escape of U+0000 (after an even number of backslashes): jsonb refuses it."""
_SURROGATE = re.compile("[\ud800-\udfff]")


def _dumps(value: Any) -> str:
    """JSON text PostgreSQL can hold: a NUL or a lone surrogate in a string becomes U+FFFD
    (the read cleans text first; this keeps a write from failing on what slipped by)."""
    text = json.dumps(value, default=str, ensure_ascii=False)
    return _SURROGATE.sub("\ufffd", _NUL.sub(r"\1\\ufffd", text))


def _clean_json(text: str) -> str:
    """JSON text PostgreSQL can hold (as `_dumps` makes it)."""
    return _SURROGATE.sub("\ufffd", _NUL.sub(r"\1\\ufffd", text))


def Json(value: Any) -> _Json:
    """JSON for a jsonb column; Decimals and dates become strings."""
    return _Json(value, dumps=_dumps)


def text(value: str | None) -> str | None:
    """Text for a text column: a NUL, which PostgreSQL cannot hold (an API's error
    body may echo one), becomes U+FFFD."""
    return None if value is None else value.replace("\x00", "\ufffd")


REASONS = (
    "validation",
    "mapping_missing",
    "mapping_stale",
    "conflict",
    "target_locked",
    "period_closed",
    "rejected",
    "transient_exhausted",
)

RECONCILIATION_LINES = 100
"""Difference lines kept per flow and period in `connector.reconciliations`."""

RESOLUTIONS = ("resolved", "ignored")
"""How a person closes a failed record that will never be written: `resolved` (handled
outside the connector) or `ignored` (it need not be synced)."""


@dataclass(frozen=True)
class RecordRef:
    """Which record: connection, flow and its key in the source system."""

    connection: str
    flow: str
    source_key: str


@dataclass(frozen=True)
class LedgerEntry:
    source_key: str
    status: str
    payload_hash: str | None
    target_id: str | None
    source_version: str | None
    mapping_version: str | None
    attempts: int
    partition_key: str | None
    updated_at: datetime
    created_at: datetime
    first_intent_at: datetime | None
    last_payload: Any = None
    """The payload last written to the target (None before the first write)."""
    set_aside_hash: str | None = None
    set_aside_version: str | None = None
    """The payload hash and source version of a failure a person resolved or ignored:
    while the record maps to the same payload from the same version, it is skipped."""

    def set_aside(self, payload_hash: str, source_version: str | None) -> bool:
        """Whether this payload, read at this version, is the one a person set aside."""
        if self.set_aside_hash is None:
            return False
        return (self.set_aside_hash, self.set_aside_version) == (payload_hash, source_version)


@dataclass(frozen=True)
class Correction:
    """A change to a record whose target record lies in a closed period, written instead
    as a target record of its own dated in a later, open period (a flow's
    `corrections: next_open_period`). The record keeps its original target id."""

    seq: int
    """1 for a record's first correction, then 2, ..."""
    corrects_id: str
    """The record's original target id, in its closed period."""
    corrects_partition: str
    """The record's own period (`2026-10-01`), closed in the target."""
    target_id: str | None
    """The correction's target id; None when the change moved no amount (nothing posted)."""
    partition_key: str | None
    """The period it landed in (`2026-11-01`)."""
    payload: Any = None
    """The correction as written."""
    before: Any = None
    """The record's payload in effect before it: its original's, then that plus the
    corrections before this one."""

    @property
    def note(self) -> str:
        """One line for the audit row and the reconciliation."""
        closed = f"{self.corrects_id} (period {self.corrects_partition[:7]} closed)"
        if self.target_id is None:
            return f"{closed}: the change moves no amount, so no correction was posted"
        return (
            f"correction {self.seq} of {closed} posted as {self.target_id} in "
            f"{str(self.partition_key)[:7]}"
        )


@dataclass(frozen=True)
class Audit:
    """What one attempt did; stored next to the ledger change it explains."""

    action: str  # read, lookup, adopt, create, update, cancel, skip, fail
    run_id: str | None = None
    partition_key: str | None = None
    target_id: str | None = None
    http_status: int | None = None
    hash_before: str | None = None
    hash_after: str | None = None
    error: str | None = None
    actor: str | None = None
    """Who, for an action a person took (resolve, ignore)."""
    note: str | None = None
    """Why, in that person's words."""


@dataclass(frozen=True)
class FailedRecord:
    id: int
    connection: str
    flow: str
    source_key: str
    partition_key: str | None
    reason: str
    message: str
    payload: Any
    attempts: int
    resolved: bool
    last_failed_at: datetime
    first_failed_at: datetime | None = None
    resolved_at: datetime | None = None
    resolution: str | None = None
    """`resolved` or `ignored` by a person; None while open or when the connector
    resolved it (a later write or replay succeeded)."""
    resolved_by: str | None = None
    resolution_note: str | None = None
    payload_hash: str | None = None
    """The hash of the payload that failed (None for failures recorded before 0009)."""


class Store:
    """Typed access to the connector schema through a small thread-safe pool.

    Every session is in UTC. More threads than connections wait for one rather
    than fail."""

    def __init__(self, url: str, max_connections: int = 8) -> None:
        self.url = url
        self._max = max_connections
        self._pool: psycopg2.pool.ThreadedConnectionPool | None = None
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_connections)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.closeall()
            self._pool = None

    @contextmanager
    def cursor(self, name: str | None = None) -> Iterator[psycopg2.extensions.cursor]:
        """A cursor in its own transaction: committed on success, rolled back on error.
        `name`: a server-side cursor, whose rows are fetched `itersize` at a time."""
        with self._lock:
            if self._pool is None:
                self._pool = psycopg2.pool.ThreadedConnectionPool(
                    1,
                    self._max,
                    libpq_url(self.url),
                    connect_timeout=10,
                    options=SESSION_OPTIONS,
                )
            pool = self._pool
        with self._slots:
            conn = pool.getconn()
            try:
                with conn, conn.cursor(name) as cur:
                    yield cur
            finally:
                pool.putconn(conn)

    def leases(
        self,
        connection: str,
        flow: str,
        terms: LeaseTerms | None = None,
        run_id: str | None = None,
    ) -> Leases:
        """The per-record leases of one write step, fenced in time (see `Leases`)."""
        from connector_dagster.lib.leases import Leases

        return Leases(self.url, connection, flow, terms, run_id)

    # -- ledger -------------------------------------------------------------

    def ledger(
        self,
        connection: str,
        flow: str,
        keys: Iterable[str],
        hashes: Mapping[str, str] | None = None,
    ) -> dict[str, LedgerEntry]:
        """The ledger rows of `keys`. Given the payload hash each record maps to now
        (`hashes`), a row already synced with that hash comes without its last payload
        (`last_payload` None): the record is skipped, so an unchanged re-run of a large
        period reads hashes, not every payload it wrote."""
        keys = list(keys)
        if not keys:
            return {}
        known = [(hashes or {}).get(k) for k in keys]
        with self.cursor() as cur:
            cur.execute(
                """SELECT l.source_key, l.status, l.payload_hash, l.target_id, l.source_version,
                          l.mapping_version, l.attempts, l.partition_key, l.updated_at,
                          l.created_at, l.first_intent_at,
                          CASE WHEN l.status = 'synced' AND l.payload_hash = h.hash
                               THEN NULL ELSE l.last_payload END,
                          l.set_aside_hash, l.set_aside_version
                   FROM connector.sync_ledger l
                   JOIN unnest(%s::text[], %s::text[]) AS h(key, hash) ON h.key = l.source_key
                   WHERE l.connection = %s AND l.flow = %s""",
                (keys, known, connection, flow),
            )
            return {row[0]: LedgerEntry(*row) for row in cur.fetchall()}

    def corrections(
        self,
        connection: str,
        flow: str,
        *,
        keys: Iterable[str] | None = None,
        landed: str | None = None,
        of: str | None = None,
    ) -> dict[str, list[Correction]]:
        """Corrections by source key, in order: of the records `keys`, or those that
        `landed` in a period, or those `of` records of a period (each a partition key)."""
        where, args = ["connection = %s", "flow = %s"], [connection, flow]
        for column, value in (("source_key", keys), ("partition_key", landed),
                              ("corrects_partition", of)):  # fmt: skip
            if value is not None:
                many = not isinstance(value, str)
                where.append(f"{column} = ANY(%s)" if many else f"{column} = %s")
                args.append(list(value) if many else value)
        with self.cursor() as cur:
            cur.execute(
                f"""SELECT source_key, seq, corrects_id, corrects_partition, target_id,
                           partition_key, payload, before
                    FROM connector.corrections WHERE {" AND ".join(where)}
                    ORDER BY source_key, seq""",  # noqa: S608 (columns are ours)
                args,
            )
            found: dict[str, list[Correction]] = {}
            for key, *row in cur.fetchall():
                found.setdefault(key, []).append(Correction(*row))
            return found

    def ledger_for_partition(
        self, connection: str, flow: str, partition_key: str, *, payloads: bool = True
    ) -> dict[str, LedgerEntry]:
        """The period's ledger rows by source key; `payloads=False`: without the payload
        last written (None), which a large period's rows are mostly made of."""
        payload = "last_payload" if payloads else "NULL"
        with self.cursor() as cur:
            cur.execute(
                f"""SELECT source_key, status, payload_hash, target_id, source_version,
                          mapping_version, attempts, partition_key, updated_at, created_at,
                          first_intent_at, {payload}, set_aside_hash, set_aside_version
                   FROM connector.sync_ledger
                   WHERE connection = %s AND flow = %s AND partition_key = %s""",  # noqa: S608
                (connection, flow, partition_key),
            )
            return {row[0]: LedgerEntry(*row) for row in cur.fetchall()}

    def partition_statuses(self, connection: str, flow: str, partition_key: str) -> Counter[str]:
        """How many of the period's ledger rows are in each status."""
        with self.cursor() as cur:
            cur.execute(
                """SELECT status, count(*) FROM connector.sync_ledger
                   WHERE connection = %s AND flow = %s AND partition_key = %s
                   GROUP BY status""",
                (connection, flow, partition_key),
            )
            return Counter(dict(cur.fetchall()))

    def synced_payloads(
        self, connection: str, flow: str, partition_key: str, batch: int = 1000
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(source key, payload last written) of the period's synced rows, `batch` rows
        at a time from a server-side cursor: a large period's payloads are never all
        held at once."""
        with self.cursor(name="synced_payloads") as cur:
            cur.itersize = batch
            cur.execute(
                """SELECT source_key, last_payload FROM connector.sync_ledger
                   WHERE connection = %s AND flow = %s AND partition_key = %s
                     AND status = 'synced' AND last_payload IS NOT NULL""",
                (connection, flow, partition_key),
            )
            yield from cur

    def record_intent(
        self, ref: RecordRef, payload_hash: str, audit: Audit, source_version: str | None = None
    ) -> None:
        """Commit a `pending` intent before a create, so a crash is found on re-run."""
        self.record_intents([(ref, payload_hash, audit, source_version)])

    def record_intents(self, intents: Iterable[tuple[RecordRef, str, Audit, str | None]]) -> None:
        """Commit the `pending` intents of many records in one transaction:
        (ref, payload hash, audit, source version) each."""
        intents = list(intents)
        if not intents:
            return
        with self.cursor() as cur:
            execute_values(
                cur,
                """INSERT INTO connector.sync_ledger AS l
                       (connection, flow, source_key, partition_key, status, payload_hash,
                        source_version, attempts, first_intent_at)
                   VALUES %s
                   ON CONFLICT (connection, flow, source_key) DO UPDATE SET
                       status = CASE WHEN l.status = 'synced' THEN 'synced' ELSE 'pending' END,
                       partition_key = EXCLUDED.partition_key,
                       attempts = l.attempts + 1,
                       first_intent_at = COALESCE(l.first_intent_at, now()),
                       updated_at = now()""",
                [
                    (r.connection, r.flow, r.source_key, a.partition_key, h, v)
                    for r, h, a, v in intents
                ],
                template="(%s, %s, %s, %s, 'pending', %s, %s, 1, now())",
            )
            _audit_many(cur, [(r, a) for r, _, a, _ in intents])

    def withdraw_intents(
        self, intents: Iterable[tuple[RecordRef, LedgerEntry | None, Audit]]
    ) -> None:
        """Take back `pending` intents whose create was never sent: each record's row is
        as it was before (gone when there was none), with an audit row each."""
        intents = list(intents)
        if not intents:
            return
        with self.cursor() as cur:
            for ref, before, _ in intents:
                key = (ref.connection, ref.flow, ref.source_key)
                if before is None:
                    cur.execute(
                        """DELETE FROM connector.sync_ledger
                           WHERE connection = %s AND flow = %s AND source_key = %s
                             AND status = 'pending' AND target_id IS NULL""",
                        key,
                    )
                else:
                    cur.execute(
                        """UPDATE connector.sync_ledger
                              SET status = %s, first_intent_at = NULL, updated_at = now()
                            WHERE connection = %s AND flow = %s AND source_key = %s
                              AND status = 'pending' AND target_id IS NULL""",
                        (before.status, *key),
                    )
            _audit_many(cur, [(ref, audit) for ref, _, audit in intents])

    def record_synced(
        self,
        ref: RecordRef,
        *,
        target_id: str,
        payload_hash: str,
        audit: Audit,
        source_version: str | None = None,
        mapping_version: str | None = None,
        payload: Any = None,
        correction: Correction | None = None,
    ) -> None:
        """Commit target id, hash, status, the payload written and the audit row
        together (and the `correction` posted for it, if one was); resolve any open
        failure."""
        with self.cursor() as cur:
            if correction is not None and correction.target_id is not None:
                _correction(cur, ref, correction, audit.run_id)
            cur.execute(
                """INSERT INTO connector.sync_ledger AS l
                       (connection, flow, source_key, partition_key, status, payload_hash,
                        target_id, source_version, mapping_version, attempts, last_error,
                        last_payload)
                   VALUES (%s, %s, %s, %s, 'synced', %s, %s, %s, %s, 1, NULL, %s)
                   ON CONFLICT (connection, flow, source_key) DO UPDATE SET
                       status = 'synced', payload_hash = EXCLUDED.payload_hash,
                       target_id = EXCLUDED.target_id,
                       partition_key = COALESCE(EXCLUDED.partition_key, l.partition_key),
                       source_version = EXCLUDED.source_version,
                       mapping_version = EXCLUDED.mapping_version,
                       last_payload = COALESCE(EXCLUDED.last_payload, l.last_payload),
                       set_aside_hash = NULL, set_aside_version = NULL,
                       last_error = NULL, updated_at = now()""",
                (
                    ref.connection,
                    ref.flow,
                    ref.source_key,
                    audit.partition_key,
                    payload_hash,
                    target_id,
                    source_version,
                    mapping_version,
                    None if payload is None else Json(payload),
                ),
            )
            _resolve_open(cur, ref)
            _audit(cur, ref, audit)

    def record_failed(
        self,
        ref: RecordRef,
        *,
        reason: str,
        message: str,
        payload: Any,
        audit: Audit,
        payload_hash: str | None = None,
        source_version: str | None = None,
    ) -> None:
        """Mark the record failed, keep its payload in `failed_records`, audit it.
        `payload_hash` and `source_version` say what failed, so that a person who sets
        the failure aside sets aside that version only."""
        if reason not in REASONS:
            raise ValueError(f"unknown failure reason {reason!r}; one of {REASONS}")
        with self.cursor() as cur:
            cur.execute(
                """INSERT INTO connector.sync_ledger AS l
                       (connection, flow, source_key, partition_key, status, payload_hash,
                        attempts, last_error)
                   VALUES (%s, %s, %s, %s, 'failed', %s, 1, %s)
                   ON CONFLICT (connection, flow, source_key) DO UPDATE SET
                       status = CASE WHEN l.target_id IS NULL THEN 'failed' ELSE l.status END,
                       partition_key = COALESCE(EXCLUDED.partition_key, l.partition_key),
                       set_aside_hash = NULL, set_aside_version = NULL,
                       last_error = EXCLUDED.last_error, updated_at = now()""",
                (
                    ref.connection,
                    ref.flow,
                    ref.source_key,
                    audit.partition_key,
                    payload_hash,
                    text(f"{reason}: {message}"),
                ),
            )
            cur.execute(
                """INSERT INTO connector.failed_records AS f
                       (connection, flow, source_key, partition_key, reason, message, payload,
                        payload_hash, source_version)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (connection, flow, source_key) WHERE NOT resolved DO UPDATE SET
                       reason = EXCLUDED.reason, message = EXCLUDED.message,
                       payload = EXCLUDED.payload, attempts = f.attempts + 1,
                       payload_hash = EXCLUDED.payload_hash,
                       source_version = EXCLUDED.source_version,
                       partition_key = COALESCE(EXCLUDED.partition_key, f.partition_key),
                       last_failed_at = now()""",
                (
                    ref.connection,
                    ref.flow,
                    ref.source_key,
                    audit.partition_key,
                    reason,
                    text(message),
                    Json(payload),
                    payload_hash,
                    source_version,
                ),
            )
            _audit(cur, ref, audit)

    def record_reads(
        self,
        connection: str,
        flow: str,
        reads: list[tuple[str, str | None]],
        run_id: str | None,
        partition_key: str | None,
    ) -> None:
        """A `read` audit row per record read (source key, version read) whose version
        is not the one its last `read` row holds: the audit keeps what changed, so a
        period polled every half hour adds rows only for records that changed."""
        if not reads:
            return
        with self.cursor() as cur:
            execute_values(
                cur,
                """INSERT INTO connector.audit_log
                       (connection, flow, source_key, run_id, partition_key, action, hash_after)
                   SELECT v.connection, v.flow, v.source_key, v.run_id, v.partition_key,
                          'read', v.version
                     FROM (VALUES %s) AS v(connection, flow, source_key, run_id,
                                           partition_key, version)
                    WHERE NOT EXISTS (
                          SELECT 1
                            FROM (SELECT a.hash_after
                                    FROM connector.audit_log a
                                   WHERE a.connection = v.connection AND a.flow = v.flow
                                     AND a.source_key = v.source_key AND a.action = 'read'
                                   ORDER BY a.id DESC
                                   LIMIT 1) AS last
                           WHERE last.hash_after IS NOT DISTINCT FROM v.version)""",
                [(connection, flow, key, run_id, partition_key, version) for key, version in reads],
                template="(%s, %s, %s, %s, %s, %s::text)",
                page_size=1000,
            )

    def record_skip(self, ref: RecordRef, audit: Audit) -> None:
        """Audit a record that needed no request (synced with the same hash)."""
        with self.cursor() as cur:
            _audit(cur, ref, audit)

    # -- failed records -----------------------------------------------------

    def failed(
        self,
        connection: str | None = None,
        flow: str | None = None,
        partition_key: str | None = None,
        reason: str | None = None,
        include_resolved: bool = False,
        source_key: str | None = None,
        ids: Iterable[int] | None = None,
    ) -> list[FailedRecord]:
        clauses, args = [], []
        for column, value in (
            ("connection", connection),
            ("flow", flow),
            ("partition_key", partition_key),
            ("reason", reason),
            ("source_key", source_key),
        ):
            if value is not None:
                clauses.append(f"{column} = %s")
                args.append(value)
        if ids is not None:
            clauses.append("id = ANY(%s)")
            args.append(list(ids))
        if not include_resolved:
            clauses.append("NOT resolved")
        where = " AND ".join(clauses) or "TRUE"
        with self.cursor() as cur:
            cur.execute(
                f"""SELECT id, connection, flow, source_key, partition_key, reason, message,
                           payload, attempts, resolved, last_failed_at, first_failed_at,
                           resolved_at, resolution, resolved_by, resolution_note, payload_hash
                    FROM connector.failed_records WHERE {where} ORDER BY id""",  # noqa: S608
                args,
            )
            return [FailedRecord(*row) for row in cur.fetchall()]

    def resolve_failed(self, failed_id: int) -> bool:
        with self.cursor() as cur:
            cur.execute(
                """UPDATE connector.failed_records SET resolved = true, resolved_at = now()
                   WHERE id = %s AND NOT resolved""",
                (failed_id,),
            )
            return cur.rowcount == 1

    def set_aside(
        self, records: Iterable[FailedRecord], resolution: str, note: str, by: str
    ) -> list[FailedRecord]:
        """Resolve or ignore open failed records by a person's decision, in one
        transaction: each is closed with the note and the name, its ledger row remembers
        the payload and version set aside (so later runs skip them until they change),
        and an audit row (`resolve` or `ignore`) keeps who and why. Returns the records
        closed (one another process closed meanwhile is left out)."""
        if resolution not in RESOLUTIONS:
            raise ValueError(f"unknown resolution {resolution!r}; one of {RESOLUTIONS}")
        action = {"resolved": "resolve", "ignored": "ignore"}[resolution]
        closed = []
        with self.cursor() as cur:
            for record in records:
                cur.execute(
                    """UPDATE connector.failed_records
                          SET resolved = true, resolved_at = now(), resolution = %s,
                              resolved_by = %s, resolution_note = %s
                        WHERE id = %s AND NOT resolved
                    RETURNING payload_hash, source_version""",
                    (resolution, text(by), text(note), record.id),
                )
                row = cur.fetchone()
                if row is None:
                    continue
                ref = RecordRef(record.connection, record.flow, record.source_key)
                cur.execute(
                    """UPDATE connector.sync_ledger
                          SET set_aside_hash = %s, set_aside_version = %s, updated_at = now()
                        WHERE connection = %s AND flow = %s AND source_key = %s""",
                    (*row, ref.connection, ref.flow, ref.source_key),
                )
                error = f"{record.reason}: {record.message}"[:2000]
                audit = Audit(action, partition_key=record.partition_key, hash_before=row[0],
                              error=error, actor=by, note=note)  # fmt: skip
                _audit(cur, ref, audit)
                closed.append(record)
        return closed

    # -- audit --------------------------------------------------------------

    def audit_trail(self, ref: RecordRef) -> list[dict[str, Any]]:
        with self.cursor() as cur:
            cur.execute(
                """SELECT id, at, run_id, partition_key, action, target_id, http_status,
                          hash_before, hash_after, error, actor, note
                   FROM connector.audit_log
                   WHERE connection = %s AND flow = %s AND source_key = %s ORDER BY id""",
                (ref.connection, ref.flow, ref.source_key),
            )
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    # -- reconciliations ----------------------------------------------------

    def save_reconciliations(
        self,
        connection: str,
        partition_key: str,
        results: Iterable[tuple[str, bool, list[str], dict[str, int]]],
    ) -> None:
        """Keep the last reconciliation of each flow of a period: (flow, reconciles,
        difference lines, counts) each; the first `RECONCILIATION_LINES` lines are kept."""
        with self.cursor() as cur:
            for flow, reconciles, lines, counts in results:
                cur.execute(
                    """INSERT INTO connector.reconciliations AS r
                           (connection, partition_key, flow, reconciles, differences, lines,
                            counts)
                       VALUES (%s, %s, %s, %s, %s, %s, %s)
                       ON CONFLICT (connection, partition_key, flow) DO UPDATE SET
                           reconciles = EXCLUDED.reconciles,
                           differences = EXCLUDED.differences, lines = EXCLUDED.lines,
                           counts = EXCLUDED.counts, reconciled_at = now()""",
                    (connection, partition_key, flow, reconciles, len(lines),
                     Json(lines[:RECONCILIATION_LINES]), Json(counts)),
                )  # fmt: skip

    # -- asset snapshots ----------------------------------------------------

    def save_snapshot(self, asset_key: str, partition_key: str, data: Any) -> None:
        """Keep what a read asset produced for a partition (replacing the last one)."""
        with self.cursor() as cur:
            cur.execute(
                """INSERT INTO connector.asset_snapshots (asset_key, partition_key, data)
                   VALUES (%s, %s, %s)
                   ON CONFLICT (asset_key, partition_key) DO UPDATE
                   SET data = EXCLUDED.data, stored_at = now()""",
                (asset_key, partition_key, Json(data)),
            )

    def save_snapshot_json(
        self,
        asset_key: str,
        partition_key: str,
        text: str,
        appends: Iterable[tuple[list[str], str]] = (),
    ) -> None:
        """`save_snapshot` of data already encoded as JSON text, then each of `appends`
        (a path to an array in it, JSON text of an array) added to the end of that
        array, all in one transaction: a large period's snapshot is sent a piece at a
        time and never held whole, parsed or as text."""
        with self.cursor() as cur:
            cur.execute(
                """INSERT INTO connector.asset_snapshots (asset_key, partition_key, data)
                   VALUES (%s, %s, %s::jsonb)
                   ON CONFLICT (asset_key, partition_key) DO UPDATE
                   SET data = EXCLUDED.data, stored_at = now()""",
                (asset_key, partition_key, _clean_json(text)),
            )
            for path, rows in appends:
                cur.execute(
                    """UPDATE connector.asset_snapshots
                       SET data = jsonb_set(data, %s, (data #> %s) || %s::jsonb)
                       WHERE asset_key = %s AND partition_key = %s""",
                    (path, path, _clean_json(rows), asset_key, partition_key),
                )

    def snapshot_frames(self, asset_key: str, partition_key: str) -> list[str] | None:
        """The names of the frames a snapshot holds (`[]`: one unnamed frame), or None
        if the partition was never materialized."""
        with self.cursor() as cur:
            cur.execute(
                """SELECT CASE WHEN data ? 'frames'
                               THEN ARRAY(SELECT jsonb_object_keys(data->'frames'))
                               ELSE ARRAY[]::text[] END
                   FROM connector.asset_snapshots
                   WHERE asset_key = %s AND partition_key = %s""",
                (asset_key, partition_key),
            )
            row = cur.fetchone()
        return list(row[0]) if row else None

    def snapshot_frame(
        self, asset_key: str, partition_key: str, name: str | None, batch: int = 5000
    ) -> tuple[list[str], int, Iterator[list[Any]]]:
        """One frame of a snapshot (`name` None: its unnamed frame): its columns, its
        number of rows, and its rows `batch` at a time, each batch read when it is
        asked for, so that a period's snapshot is never parsed whole at once."""
        path = ["frame"] if name is None else ["frames", name]
        where = "FROM connector.asset_snapshots WHERE asset_key = %s AND partition_key = %s"
        with self.cursor() as cur:
            cur.execute(
                f"SELECT data #> %s, jsonb_array_length(data #> %s) {where}",
                ([*path, "columns"], [*path, "rows"], asset_key, partition_key),
            )
            columns, size = cur.fetchone() or ([], 0)

        def rows() -> Iterator[list[Any]]:
            for start in range(0, size, batch):
                with self.cursor() as cur:
                    cur.execute(
                        f"SELECT jsonb_path_query_array(data #> %s, %s::jsonpath) {where}",
                        ([*path, "rows"], f"$[{start} to {start + batch - 1}]",
                         asset_key, partition_key),
                    )  # fmt: skip
                    [part] = cur.fetchone()
                yield part

        return list(columns), int(size or 0), rows()

    def load_snapshot(self, asset_key: str, partition_key: str) -> Any | None:
        """What `save_snapshot` kept, or None if the partition was never materialized."""
        with self.cursor() as cur:
            cur.execute(
                "SELECT data FROM connector.asset_snapshots "
                "WHERE asset_key = %s AND partition_key = %s",
                (asset_key, partition_key),
            )
            row = cur.fetchone()
        return row[0] if row else None

    # -- cursors ------------------------------------------------------------

    def get_cursor(self, connection: str, name: str) -> str | None:
        with self.cursor() as cur:
            cur.execute(
                "SELECT value FROM connector.sync_cursors WHERE connection = %s AND name = %s",
                (connection, name),
            )
            row = cur.fetchone()
            return row[0] if row else None

    def set_cursor(self, connection: str, name: str, value: str) -> None:
        with self.cursor() as cur:
            cur.execute(
                """INSERT INTO connector.sync_cursors (connection, name, value)
                   VALUES (%s, %s, %s)
                   ON CONFLICT (connection, name) DO UPDATE
                   SET value = EXCLUDED.value, updated_at = now()""",
                (connection, name, value),
            )


def _correction(
    cur: psycopg2.extensions.cursor, ref: RecordRef, c: Correction, run_id: str | None
) -> None:
    cur.execute(
        """INSERT INTO connector.corrections
               (connection, flow, source_key, seq, target_id, partition_key, corrects_id,
                corrects_partition, payload, before, run_id)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (ref.connection, ref.flow, ref.source_key, c.seq, c.target_id, c.partition_key,
         c.corrects_id, c.corrects_partition, Json(c.payload), Json(c.before), run_id),
    )  # fmt: skip


def _audit(cur: psycopg2.extensions.cursor, ref: RecordRef, a: Audit) -> None:
    _audit_many(cur, [(ref, a)])


def _audit_many(cur: psycopg2.extensions.cursor, rows: list[tuple[RecordRef, Audit]]) -> None:
    execute_values(
        cur,
        """INSERT INTO connector.audit_log
               (connection, flow, source_key, run_id, partition_key, action, target_id,
                http_status, hash_before, hash_after, error, actor, note)
           VALUES %s""",
        [
            (
                r.connection,
                r.flow,
                r.source_key,
                a.run_id,
                a.partition_key,
                a.action,
                a.target_id,
                a.http_status,
                a.hash_before,
                a.hash_after,
                text(a.error),
                text(a.actor),
                text(a.note),
            )
            for r, a in rows
        ],
    )


def _resolve_open(cur: psycopg2.extensions.cursor, ref: RecordRef) -> None:
    cur.execute(
        """UPDATE connector.failed_records SET resolved = true, resolved_at = now()
           WHERE connection = %s AND flow = %s AND source_key = %s AND NOT resolved""",
        (ref.connection, ref.flow, ref.source_key),
    )
