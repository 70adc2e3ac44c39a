"""The write protocol: exactly-once effect without idempotency keys.

For each source record of a partition:

1. Lease it (`lib/leases.py`: a lease that lapses unless renewed): a record leased by
   another live step is left to it, so overlapping runs write once; one leased by a
   step that stopped renewing is waited for until that lease lapsed and every
   request it could have sent has timed out. Every request of the step is fenced: it
   is sent only while the step can prove its leases, so a step that lost its
   database stops sending at once, and its in-doubt records are looked up, never
   created blind, by whichever step takes them next.
2. Skip it when the ledger holds the same payload hash.
3. Ask the source whether it changed since it was read; a changed one is parked as
   `conflict` rather than written from stale data.
4. Without a target id: commit a `pending` intent (a page of records at a time).
   Only a record intended before may exist in the target: look those up by their
   provenance marker and adopt an exact match; two matches, or a match on a weaker
   field alone, is a `conflict`, never a write. A target that can be written by
   others with the same natural key (`lookup_before_create`) has every create
   looked up, one batched look-up per page.
5. Create, update (only the fields whose mapped value changed) or cancel, and
   commit target id, hash, payload, status and the audit row in one transaction.
   A create whose answer was lost is looked up again; a record found then is
   adopted and updated like any adopted record. A target may answer an update with
   a `Correction` instead (its record lies in a period closed there, so the change
   went into a later, open one as a record of its own, looked up before it was
   created): it is committed with the ledger row, which keeps the original target id.

A record the opposite flow created from the target (`op="link"`) is never written:
its counterpart is looked up with the page's look-ups and recorded as its target
id, so a bidirectional pair never sends a record back.

A bad record is parked in `failed_records` with a classified reason; the others go
on. A failure a person set aside (resolved or ignored with a note) is not tried again
while the record maps to the same payload from the same source version. Pages of
records flow through steps 3-4 while earlier pages are being written, so the target's
rate limit, not the checks, sets the pace; a few pages at most are checked ahead of
the writers, so a large period is not prepared all at once.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, TypeVar

import psycopg2

from connector_dagster.engine.protocols import ChangeCheck, LedgerStore, Target
from connector_dagster.engine.records import Ambiguous, Outbound
from connector_dagster.lib import fence
from connector_dagster.lib.errors import ApiError, ErrorKind
from connector_dagster.lib.fence import LeaseLost, fenced
from connector_dagster.lib.leases import LeaseTerms, database_lost
from connector_dagster.lib.store import Audit, Correction, LedgerEntry, RecordRef

T = TypeVar("T")

DATABASE_LOST = (psycopg2.OperationalError, psycopg2.InterfaceError)
"""What psycopg2 raises when the connector's database goes away mid-step."""

log = logging.getLogger(__name__)

# How far before a record's first intent the provenance look-up searches, to
# allow for clock skew between us and the target.
LOOKUP_SKEW = timedelta(minutes=10)

_REASON_FOR_KIND = {
    ErrorKind.TRANSIENT: "transient_exhausted",
    ErrorKind.OUTCOME_UNKNOWN: "transient_exhausted",
    ErrorKind.CONFLICT: "conflict",
    ErrorKind.REJECTED: "rejected",
    ErrorKind.NOT_FOUND: "rejected",
}

_NEXT_STEP = {
    "transient_exhausted": "the target did not answer in time: re-run or replay it later",
    "conflict": "the target changed meanwhile: re-run or replay it",
    "rejected": "the target refused it: correct the record or its mapping, then replay it",
}


class WriteStopped(Exception):
    """A write step stopped before its end for a cause outside any one record (its
    database lost, its leases lost, its credentials refused). The message is one line
    naming the cause, the flow and the period, and what becomes of the records."""


def refused(connection: str, exc: ApiError) -> str:
    """Credentials a system refused, and how to set them again, in one line."""
    return (
        f"{exc} (the credentials were refused: check them with `connector-dagster "
        f"credentials list`, set them again with `connector-dagster credentials set "
        f"{connection} <system> <field>`)"
    )


class RecordFailure(Exception):
    """A record the target cannot take, with the failure reason class."""

    def __init__(self, reason: str, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.http_status = http_status


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    corrected: list[str] = field(default_factory=list)
    """Changed after their target period closed: written as a correction in a later one."""
    adopted: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    leased: list[str] = field(default_factory=list)
    """Left to another live run that holds their lease."""
    failed: dict[str, tuple[str, str]] = field(default_factory=dict)
    set_aside: list[str] = field(default_factory=list)
    """Not tried: a person resolved or ignored their failure, and they did not change
    since (also counted as skipped)."""

    def counts(self) -> dict[str, int]:
        return {
            "created": len(self.created),
            "updated": len(self.updated),
            "corrected": len(self.corrected),
            "adopted": len(self.adopted),
            "cancelled": len(self.cancelled),
            "skipped": len(self.skipped),
            "leased_elsewhere": len(self.leased),
            "failed": len(self.failed),
        }


def _intended(ledger: dict[str, LedgerEntry], key: str) -> bool:
    entry = ledger.get(key)
    return entry is not None and entry.first_intent_at is not None


class _Job(NamedTuple):
    """One record on its way: `create` (no target id yet), `write` (update or cancel
    its target record) or `find` (a cancel of a record whose create may have been sent,
    or a link to the target record it came from)."""

    kind: str
    record: Outbound
    target_id: str | None = None


@dataclass
class Syncer:
    store: LedgerStore
    target: Target
    connection: str
    flow: str
    run_id: str | None = None
    mapping_version: str | None = None
    workers: int = 16
    # Records per page through the checks (one change check and one batch of
    # intents per page), while earlier pages are being written.
    page: int = 25
    # Pages checked ahead of the writers, at most.
    ahead: int = 4
    # Look-up-then-create rounds after a create whose outcome is unknown.
    create_rounds: int = 2
    # How a record is named in messages, e.g. "PO".
    label: str = "record"
    # Asked, before anything is written, which records changed in the source since
    # they were read; those are parked as `conflict` and written by the next run.
    source: ChangeCheck | None = None
    # The lease bound (lease, renewal, the longest a request can be on its way).
    terms: LeaseTerms | None = None
    report: SyncReport = field(default_factory=SyncReport)
    _leases: Any = None
    _sending: set[str] = field(default_factory=set)
    """Records whose create was started and whose outcome is not recorded yet."""
    _sending_lock: threading.Lock = field(default_factory=threading.Lock)
    _first_intents: dict[str, tuple[LedgerEntry | None, str]] = field(default_factory=dict)
    """Records this step intended for the first time: their ledger row before, period."""
    _started: set[str] = field(default_factory=set)
    """Records whose write began: what may have reached the target."""
    _earlier: list[Outbound] = field(default_factory=list)
    """Records of this step intended by an earlier run (or to be linked): looked up all
    at once, on the first page that needs it (`_recovered`)."""
    _recovered: dict[str, str | Ambiguous] | ApiError | None = None

    def ref(self, record: Outbound) -> RecordRef:
        return RecordRef(self.connection, self.flow, record.key)

    def audit(self, record: Outbound, action: str, **kw: Any) -> Audit:
        return Audit(action, run_id=self.run_id, partition_key=record.partition_key, **kw)

    def run(self, records: Sequence[Outbound]) -> SyncReport:
        """Write `records`; raise `WriteStopped` (one line) when the step cannot go on:
        its database or its leases lost, or its credentials refused."""
        try:
            with self.store.leases(self.connection, self.flow, self.terms, self.run_id) as leases:
                self._leases = leases
                self._run(records, leases)
        except LeaseLost as exc:
            cause = str(exc)
        except DATABASE_LOST as exc:
            raise WriteStopped(self._stopped(records, database_lost(self._url, exc))) from None
        except ApiError as exc:
            if exc.kind is not ErrorKind.AUTH:
                raise
            cause = self._refused(exc)
        else:
            return self.report
        raise WriteStopped(self._stopped(records, cause, self._withdraw(cause)))

    def _refused(self, exc: ApiError) -> str:
        return refused(self.connection, exc)

    def _withdraw(self, cause: str) -> int:
        """Take back the intents of records this step intended for the first time and
        never began to write: nothing of theirs can be in the target, so they are not
        left in doubt. Returns how many; none when the database cannot be reached."""
        unsent = {k: v for k, v in self._first_intents.items() if k not in self._started}
        if not unsent:
            return 0
        error = f"not sent: {cause}"[:2000]
        try:
            self.store.withdraw_intents(
                (
                    RecordRef(self.connection, self.flow, key),
                    before,
                    Audit("withdraw", run_id=self.run_id, partition_key=period, error=error),
                )
                for key, (before, period) in unsent.items()
            )
        except DATABASE_LOST:
            return 0
        return len(unsent)

    @property
    def _url(self) -> str:
        return str(getattr(self.store, "url", "?"))

    def _run(self, records: Sequence[Outbound], leases: Any) -> None:
        held = leases.take(r.key for r in records)
        self.report.leased.extend(r.key for r in records if r.key not in held)
        records = [r for r in records if r.key in held]
        ledger = self.store.ledger(
            self.connection,
            self.flow,
            [r.key for r in records],
            {r.key: r.payload_hash for r in records},
        )
        written = [r.key for r in records if r.key in ledger and ledger[r.key].target_id]
        if written:
            corrections = self.store.corrections(self.connection, self.flow, keys=written)
            for record in records:
                record.corrections = tuple(corrections.get(record.key, ()))
        jobs = list(self._classify(records, ledger))
        self._earlier = [
            j.record
            for j in jobs
            if j.kind == "find" or (j.kind == "create" and _intended(ledger, j.record.key))
        ]
        self._recovered = None
        pages = iter([jobs[i : i + self.page] for i in range(0, len(jobs), self.page)])
        del jobs
        checks = ThreadPoolExecutor(max_workers=1)
        writers = ThreadPoolExecutor(max_workers=max(1, self.workers))
        workers = max(1, self.workers)
        # Pages are checked at most `ahead` ahead of the one being handed to the
        # writers, and handed over while the writers have at most `ahead` pages more
        # than they can run at once: enough that they never wait for the checks,
        # bounded so that a large period's checks, intents and write futures are not
        # all made before its first writes end.
        backlog = workers + self.ahead * self.page
        prepared: deque[Future[list[tuple]]] = deque()
        writes: deque[Future[None]] = deque()
        try:
            for page in itertools.islice(pages, self.ahead):
                prepared.append(checks.submit(self._fenced, self._prepare, page, ledger))
            while prepared:
                while len(writes) >= backlog:
                    writes.popleft().result()
                ready = prepared.popleft().result()
                for page in itertools.islice(pages, 1):
                    prepared.append(checks.submit(self._fenced, self._prepare, page, ledger))
                writes.extend(writers.submit(self._fenced, self._write, *job) for job in ready)
                while writes and writes[0].done():
                    writes.popleft().result()
            while writes:
                writes.popleft().result()
        finally:
            # On a failure, what has not started never starts; what has, ends first
            # (its requests answered), so the leases are released only after them.
            checks.shutdown(wait=True, cancel_futures=True)
            writers.shutdown(wait=True, cancel_futures=True)

    def _fenced(self, step: Callable[..., T], *args: Any) -> T:
        """Run one step of the protocol on a worker thread under the leases' fence;
        a lost database or a refused credential stops every other thread's sending."""
        leases = self._leases
        with fenced(leases):
            leases.check()
            try:
                return step(*args)
            except DATABASE_LOST as exc:
                leases.lose(database_lost(self._url, exc))
                raise
            except ApiError as exc:
                if exc.kind is ErrorKind.AUTH:
                    leases.lose(self._refused(exc))
                raise

    def _stopped(self, records: Sequence[Outbound], cause: str, withdrawn: int = 0) -> str:
        periods = sorted({r.partition_key[:7] for r in records if r.partition_key})
        where = f"{self.flow} {', '.join(periods) or '(no period)'} on {self.connection}"
        message = f"{where}: stopped writing: {cause}; nothing more was sent"
        with self._sending_lock:
            doubt = len(self._sending)
        terms = self.terms or LeaseTerms()
        if doubt:
            message += (
                f"; {doubt} {self.label}(s) whose create may have reached the target are in "
                "doubt: the next run looks each up before writing it, once this step's "
                f"leases have lapsed (within {terms.in_doubt_s:.0f} s: lease "
                f"{terms.ttl_s:g} s + request timeout {terms.in_flight_s:g} s)"
            )
        if withdrawn:
            message += f"; {withdrawn} {self.label}(s) intended but never sent were taken back"
        return message + "; re-run the period once the cause is fixed"

    def _classify(
        self, records: Sequence[Outbound], ledger: dict[str, LedgerEntry]
    ) -> Iterator[_Job]:
        for record in records:
            entry = ledger.get(record.key)
            if entry and entry.set_aside(record.payload_hash, record.source_version):
                self.report.set_aside.append(record.key)
                self.report.skipped.append(record.key)
            elif record.problem is not None:
                self.fail(record, *record.problem)
            elif entry and entry.status == "synced" and entry.payload_hash == record.payload_hash:
                self.report.skipped.append(record.key)
            elif entry and entry.target_id:
                record.previous = entry.last_payload
                yield _Job("write", record, entry.target_id)
            elif record.op == "link":
                yield _Job("find", record)  # its counterpart in the target, to record
            elif record.op == "cancel":
                if entry and entry.first_intent_at:
                    yield _Job("find", record)  # a create may have been sent
                else:
                    self.report.skipped.append(record.key)  # never created: nothing to do
            else:
                yield _Job("create", record)

    def _prepare(self, page: list[_Job], ledger: dict[str, LedgerEntry]) -> list[tuple]:
        """Steps 3-4 for a page: the change check, intents, look-ups. Returns the
        (record, target id or None) pairs to write."""
        checked = [j for j in page if j.kind != "find"]
        if self.source is not None and checked:
            stale = self.source.changed({j.record.key: j.record.source_version for j in checked})
            for job in checked:
                if job.record.key in stale:
                    self.fail(
                        job.record,
                        "conflict",
                        f"{self.label} {job.record.key!r} changed in {self.source.system} "
                        "while it was being synced; it is written by the next run, or replay "
                        "this record",
                    )
            page = [j for j in page if j.kind == "find" or j.record.key not in stale]
        creates = [j.record for j in page if j.kind == "create"]
        now = datetime.now(UTC)
        for job in page:
            entry = ledger.get(job.record.key)
            first = entry.first_intent_at if entry is not None else None
            if first is not None:
                job.record.intended_at = first.astimezone(UTC)
            elif job.kind == "create":
                job.record.intended_at = now
                self._first_intents[job.record.key] = (entry, job.record.partition_key)
        self.store.record_intents(
            (self.ref(r), r.payload_hash, self.audit(r, "intent", hash_after=r.payload_hash),
             r.source_version)
            for r in creates
        )  # fmt: skip
        # Only a record intended before this run may already exist in the target,
        # unless the target says that others may have created it too.
        every = getattr(self.target, "lookup_before_create", False)
        maybe_sent = [
            j.record
            for j in page
            if j.kind == "find"
            or (j.kind == "create" and (every or _intended(ledger, j.record.key)))
        ]
        found = self._lookup_or_fail(maybe_sent, ledger)
        looked_up = {r.key for r in maybe_sent}
        ready: list[tuple] = []
        for job in page:
            key = job.record.key
            if job.kind == "write":
                ready.append((job.record, job.target_id))
            elif key not in looked_up:
                ready.append((job.record, None))
            elif key in found:
                if job.kind == "create":
                    self.report.adopted.append(key)
                ready.append((job.record, found[key]))
            elif job.kind == "find":
                self.report.skipped.append(key)  # no create took effect, nothing to link
            elif key not in self.report.failed:
                ready.append((job.record, None))
        return ready

    def _lookup_or_fail(
        self, records: list[Outbound], ledger: dict[str, LedgerEntry]
    ) -> dict[str, str]:
        """Adoptable target ids; an ambiguous or failed look-up parks its records."""
        if not records:
            return {}
        try:
            found = self._lookup(records, ledger)
        except ApiError as exc:
            if exc.kind is ErrorKind.AUTH:
                raise
            for record in records:
                self.fail(
                    record,
                    "transient_exhausted",
                    f"{self.label} {record.key!r}: provenance look-up failed: {exc}; "
                    f"{_NEXT_STEP['transient_exhausted']}",
                )
            return {}
        adoptable: dict[str, str] = {}
        for record in records:
            match = found.get(record.key)
            if isinstance(match, Ambiguous):
                self.fail(record, "conflict", f"{self.label} {record.key!r}: {match.message}")
            elif match is not None:
                adoptable[record.key] = match
        return adoptable

    def _lookup(
        self, records: list[Outbound], ledger: dict[str, LedgerEntry]
    ) -> dict[str, str | Ambiguous]:
        """Target records found by provenance, each adoption audited. The search starts
        at the earliest first intent among the records: no create was sent before.

        The records an earlier run intended (in doubt after a crash) are looked up once
        per step, all of them together, the first time a page holds one: one listing of
        the target since the earliest intent, matched in memory, instead of one per
        page. It is made after this step took their leases, so every create an earlier
        holder could have sent has ended by then, and this step creates one of them
        only once its own page has used the result."""
        earlier = {r.key for r in self._earlier}
        mine = [r for r in records if r.key in earlier]
        others = [r for r in records if r.key not in earlier]
        found: dict[str, str | Ambiguous] = {}
        if mine:
            if self._recovered is None:
                try:
                    self._recovered = self._search(self._earlier, ledger)
                except ApiError as exc:
                    if exc.kind is ErrorKind.AUTH:
                        raise
                    self._recovered = exc
            if isinstance(self._recovered, ApiError):
                raise self._recovered
            found.update((r.key, self._recovered[r.key]) for r in mine if r.key in self._recovered)
        if others:
            found.update(self._search(others, ledger))
        for record in records:
            match = found.get(record.key)
            if isinstance(match, str):
                self.store.record_skip(
                    self.ref(record), self.audit(record, "adopt", target_id=match)
                )
        return found

    def _search(
        self, records: list[Outbound], ledger: dict[str, LedgerEntry]
    ) -> dict[str, str | Ambiguous]:
        """The target's look-up of `records`, from the earliest of their first intents."""
        for record in records:
            entry = ledger.get(record.key)
            if record.intended_at is None and entry is not None and entry.first_intent_at:
                record.intended_at = entry.first_intent_at.astimezone(UTC)
        intents = [ledger[r.key].first_intent_at for r in records if r.key in ledger]
        since = min((t for t in intents if t is not None), default=datetime.now(UTC))
        return self.target.lookup(records, since.astimezone(UTC) - LOOKUP_SKEW)

    def _write(self, record: Outbound, target_id: str | None) -> None:
        """Step 5 for one record. A record whose write stopped (leases or credentials
        lost) before any request that could change the target was sent is neither in
        doubt nor begun."""
        with self._sending_lock:
            self._started.add(record.key)
        with fence.counting() as sends:
            try:
                self._write_one(record, target_id)
            except (LeaseLost, ApiError) as exc:
                stopped = isinstance(exc, LeaseLost) or exc.kind is ErrorKind.AUTH
                if stopped and sends.writes == 0:
                    with self._sending_lock:
                        self._started.discard(record.key)
                        self._sending.discard(record.key)
                raise

    def _write_one(self, record: Outbound, target_id: str | None) -> None:
        corrected: Correction | None = None
        try:
            if target_id is None:
                with self._sending_lock:
                    self._sending.add(record.key)
                try:
                    target_id = self.target.create(record)
                    action = "create"
                except ApiError as exc:
                    if exc.kind is not ErrorKind.OUTCOME_UNKNOWN:
                        raise
                    target_id, action = self._after_unknown(record, exc)
                    if action == "adopt":
                        # As for any adoption: a create of several requests may have
                        # stopped half-way, so the record is brought to its payload.
                        self.target.update(record, target_id)
            elif record.op == "cancel":
                self.target.cancel(record, target_id)
                action = "cancel"
            elif record.op == "link":
                action = "link"  # created in the target by the opposite flow: no write
            else:
                corrected = self.target.update(record, target_id)
                action = "update" if corrected is None else "correct"
        except RecordFailure as failure:
            self.fail(record, failure.reason, failure.message, http_status=failure.http_status)
            self._sent(record)
            return
        except ApiError as exc:
            if exc.kind is ErrorKind.AUTH:
                raise
            reason = _REASON_FOR_KIND.get(exc.kind, "rejected")
            message = f"{self.label} {record.key!r}: {exc}; {_NEXT_STEP[reason]}"
            self.fail(record, reason, message, http_status=exc.status, detail=exc.to_record())
            self._sent(record)
            return
        self.store.record_synced(
            self.ref(record),
            target_id=str(target_id),
            payload_hash=record.payload_hash,
            source_version=record.source_version,
            mapping_version=self.mapping_version,
            payload=record.payload,
            correction=corrected,
            audit=self.audit(
                record,
                action,
                target_id=str(corrected.target_id or target_id) if corrected else str(target_id),
                hash_after=record.payload_hash,
                note=corrected.note if corrected else None,
            ),
        )
        self._sent(record)
        getattr(
            self.report,
            {
                "create": "created",
                "adopt": "adopted",
                "link": "adopted",
                "cancel": "cancelled",
                "update": "updated",
                "correct": "corrected",
            }[action],
        ).append(record.key)

    def _sent(self, record: Outbound) -> None:
        """The record's outcome is recorded: it is no longer in doubt."""
        with self._sending_lock:
            self._sending.discard(record.key)

    def _after_unknown(self, record: Outbound, exc: ApiError) -> tuple[str, str]:
        """A create whose answer was lost: adopt the record if it took effect,
        else create it again, each time after a look-up; bounded."""
        since = datetime.now(UTC) - LOOKUP_SKEW
        for _ in range(self.create_rounds):
            found = self._adoptable(record, since)
            if found is not None:
                return found, "adopt"
            try:
                return self.target.create(record), "create"
            except ApiError as again:
                if again.kind is not ErrorKind.OUTCOME_UNKNOWN:
                    raise
                exc = again
        found = self._adoptable(record, since)
        if found is not None:
            return found, "adopt"
        raise exc.__class__(
            f"{exc.detail}; still unknown after {self.create_rounds} look-up-then-create "
            "rounds: it will be looked up again on replay",
            method=exc.method,
            url=exc.url,
            status=exc.status,
            kind=ErrorKind.TRANSIENT,
        )

    def _adoptable(self, record: Outbound, since: datetime) -> str | None:
        match = self.target.lookup([record], since).get(record.key)
        if isinstance(match, Ambiguous):
            raise RecordFailure("conflict", f"{self.label} {record.key!r}: {match.message}")
        return match

    def fail(
        self,
        record: Outbound,
        reason: str,
        message: str,
        *,
        http_status: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        source = dict(record.context)  # a source's data may be made when read
        payload = {"payload": record.payload, "source": source, "error": detail}
        self.store.record_failed(
            self.ref(record),
            reason=reason,
            message=message,
            payload=payload,
            payload_hash=record.payload_hash,
            source_version=record.source_version,
            audit=self.audit(
                record, "fail", http_status=http_status, error=f"{reason}: {message}"[:2000]
            ),
        )
        self.report.failed[record.key] = (reason, message)
