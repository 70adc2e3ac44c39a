"""The write protocol: exactly-once effect without idempotency keys.

For each source record of a partition: skip it when the ledger holds the same
payload hash; otherwise commit a `pending` intent, look the record up in the
target by its provenance (adopting a match), create or update it, and commit
target id, hash, status and the audit row in one transaction. Before any
write, the source is asked which records changed since they were read; those
are parked as `conflict` rather than written from stale data. A bad record is
parked in `failed_records` with a classified reason; the others go on.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from connector_dagster.lib.errors import ApiError, ErrorKind
from connector_dagster.lib.store import Audit, LedgerEntry, RecordRef, Store

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


class RecordFailure(Exception):
    """A record the target cannot take, with the failure reason class."""

    def __init__(self, reason: str, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.http_status = http_status


@dataclass
class SourceRecord:
    key: str
    partition_key: str
    payload: dict[str, Any] | None
    source_version: str | None = None
    # Set when mapping or validation failed: (reason, message).
    problem: tuple[str, str] | None = None
    # "upsert" creates or updates; "cancel" cancels the target record.
    op: str = "upsert"
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def payload_hash(self) -> str:
        return payload_hash({"op": self.op, "payload": self.payload})


class Target(Protocol):
    """How one flow writes into its target system."""

    def lookup(self, records: Sequence[SourceRecord], since: datetime) -> dict[str, str]:
        """Target ids of records already created, found by their provenance marker."""
        ...

    def create(self, record: SourceRecord) -> str: ...

    def update(self, record: SourceRecord, target_id: str) -> None: ...

    def cancel(self, record: SourceRecord, target_id: str) -> None: ...


class ChangeCheck(Protocol):
    """The source side: which records changed since the versions that were read."""

    system: str

    def changed(self, versions: Mapping[str, str | None]) -> set[str]: ...


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, tuple[str, str]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {
            "created": len(self.created),
            "updated": len(self.updated),
            "adopted": len(self.adopted),
            "cancelled": len(self.cancelled),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
        }


def payload_hash(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=_plain)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot hash {type(value).__name__}")


@dataclass
class Syncer:
    store: Store
    target: Target
    connection: str
    flow: str
    run_id: str | None = None
    mapping_version: str | None = None
    workers: int = 8
    # Look-up-then-create rounds after a create whose outcome is unknown.
    create_rounds: int = 2
    # How a record is named in messages, e.g. "PO".
    label: str = "record"
    # Asked, before anything is written, which records changed in the source since
    # they were read; those are parked as `conflict` and written by the next run.
    source: ChangeCheck | None = None
    report: SyncReport = field(default_factory=SyncReport)

    def ref(self, record: SourceRecord) -> RecordRef:
        return RecordRef(self.connection, self.flow, record.key)

    def audit(self, record: SourceRecord, action: str, **kw: Any) -> Audit:
        return Audit(action, run_id=self.run_id, partition_key=record.partition_key, **kw)

    def run(self, records: Sequence[SourceRecord]) -> SyncReport:
        ledger = self.store.ledger(self.connection, self.flow, [r.key for r in records])
        to_create: list[SourceRecord] = []
        to_write: list[tuple[SourceRecord, str]] = []
        to_cancel_if_found: list[SourceRecord] = []
        for record in records:
            entry = ledger.get(record.key)
            if record.problem is not None:
                self.fail(record, *record.problem)
            elif entry and entry.status == "synced" and entry.payload_hash == record.payload_hash:
                self.report.skipped.append(record.key)
            elif entry and entry.target_id:
                to_write.append((record, entry.target_id))
            elif record.op == "cancel":
                if entry and entry.first_intent_at:
                    to_cancel_if_found.append(record)  # a create may have been sent
                else:
                    self.report.skipped.append(record.key)  # never created: nothing to do
            else:
                to_create.append(record)

        if self.source is not None and (to_create or to_write):
            pending = [*to_create, *(r for r, _ in to_write)]
            stale = self.source.changed({r.key: r.source_version for r in pending})
            for record in pending:
                if record.key in stale:
                    self.fail(
                        record,
                        "conflict",
                        f"{self.label} {record.key!r} changed in {self.source.system} while it "
                        "was being synced; it is written by the next run, or replay this record",
                    )
            to_create = [r for r in to_create if r.key not in stale]
            to_write = [(r, t) for r, t in to_write if r.key not in stale]

        adopted = self._intend_and_lookup(to_create, ledger)
        for record in to_create:
            if record.key in adopted:
                to_write.append((record, adopted[record.key]))
                self.report.adopted.append(record.key)
        if to_cancel_if_found:
            found = self._lookup_or_fail(to_cancel_if_found, ledger)
            for record in to_cancel_if_found:
                if record.key in found:
                    to_write.append((record, found[record.key]))
                else:
                    self.report.skipped.append(record.key)

        work = [(r, None) for r in to_create if r.key not in adopted] + to_write
        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            list(pool.map(lambda item: self._write(*item), work))
        return self.report

    def _intend_and_lookup(
        self, records: list[SourceRecord], ledger: dict[str, LedgerEntry]
    ) -> dict[str, str]:
        if not records:
            return {}
        for record in records:
            self.store.record_intent(
                self.ref(record),
                record.payload_hash,
                self.audit(record, "intent", hash_after=record.payload_hash),
                source_version=record.source_version,
            )
        return self._lookup_or_fail(records, ledger)

    def _lookup_or_fail(
        self, records: list[SourceRecord], ledger: dict[str, LedgerEntry]
    ) -> dict[str, str]:
        """Like _lookup, but a failed look-up parks the records (and empties `records`)."""
        try:
            return self._lookup(records, ledger)
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
            records.clear()
            return {}

    def _lookup(
        self, records: list[SourceRecord], ledger: dict[str, LedgerEntry]
    ) -> dict[str, str]:
        """Target ids found by provenance, each adoption audited. The search starts
        at the earliest first intent among the records: no create was sent before."""
        intents = [ledger[r.key].first_intent_at for r in records if r.key in ledger]
        since = min((t for t in intents if t is not None), default=datetime.now(UTC))
        found = self.target.lookup(records, since - LOOKUP_SKEW)
        for key, target_id in found.items():
            record = next(r for r in records if r.key == key)
            self.store.record_skip(
                self.ref(record), self.audit(record, "adopt", target_id=str(target_id))
            )
        return found

    def _write(self, record: SourceRecord, target_id: str | None) -> None:
        try:
            if target_id is None:
                try:
                    target_id = self.target.create(record)
                    action = "create"
                except ApiError as exc:
                    if exc.kind is not ErrorKind.OUTCOME_UNKNOWN:
                        raise
                    target_id, action = self._after_unknown(record, exc)
            elif record.op == "cancel":
                self.target.cancel(record, target_id)
                action = "cancel"
            else:
                self.target.update(record, target_id)
                action = "update"
        except RecordFailure as failure:
            self.fail(record, failure.reason, failure.message, http_status=failure.http_status)
            return
        except ApiError as exc:
            if exc.kind is ErrorKind.AUTH:
                raise
            reason = _REASON_FOR_KIND.get(exc.kind, "rejected")
            message = f"{self.label} {record.key!r}: {exc}; {_NEXT_STEP[reason]}"
            self.fail(record, reason, message, http_status=exc.status, detail=exc.to_record())
            return
        self.store.record_synced(
            self.ref(record),
            target_id=str(target_id),
            payload_hash=record.payload_hash,
            source_version=record.source_version,
            mapping_version=self.mapping_version,
            audit=self.audit(
                record, action, target_id=str(target_id), hash_after=record.payload_hash
            ),
        )
        getattr(
            self.report,
            {"create": "created", "adopt": "adopted", "cancel": "cancelled", "update": "updated"}[
                action
            ],
        ).append(record.key)

    def _after_unknown(self, record: SourceRecord, exc: ApiError) -> tuple[str, str]:
        """A create whose answer was lost: adopt the record if it took effect,
        else create it again, each time after a look-up; bounded."""
        since = datetime.now(UTC) - LOOKUP_SKEW
        for _ in range(self.create_rounds):
            found = self.target.lookup([record], since)
            if record.key in found:
                return found[record.key], "adopt"
            try:
                return self.target.create(record), "create"
            except ApiError as again:
                if again.kind is not ErrorKind.OUTCOME_UNKNOWN:
                    raise
                exc = again
        found = self.target.lookup([record], since)
        if record.key in found:
            return found[record.key], "adopt"
        raise exc.__class__(
            f"{exc.detail}; still unknown after {self.create_rounds} look-up-then-create "
            "rounds: it will be looked up again on replay",
            method=exc.method,
            url=exc.url,
            status=exc.status,
            kind=ErrorKind.TRANSIENT,
        )

    def fail(
        self,
        record: SourceRecord,
        reason: str,
        message: str,
        *,
        http_status: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        payload = {"payload": record.payload, "source": record.context, "error": detail}
        self.store.record_failed(
            self.ref(record),
            reason=reason,
            message=message,
            payload=payload,
            payload_hash=record.payload_hash,
            audit=self.audit(
                record, "fail", http_status=http_status, error=f"{reason}: {message}"[:2000]
            ),
        )
        self.report.failed[record.key] = (reason, message)
