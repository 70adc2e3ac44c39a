"""The protocols a flow implements (its `Source`, with `ChangePoll` and `EventPeriods`
where it has them, and its `Target`), and what the write protocol needs of the store
(`LedgerStore`): in one place, for flow authors."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from connector_dagster.engine.records import (
    Ambiguous,
    Changes,
    Frames,
    Item,
    Outbound,
    Period,
    Read,
)
from connector_dagster.lib.leases import LeaseTerms
from connector_dagster.lib.store import Audit, Correction, LedgerEntry, RecordRef


class Source(Protocol):
    """The system a flow reads: a period's records, and what changed since they were read."""

    system: str
    """For people: `IFS` or `ServiceTitan`."""

    def read(self, name: str, period: Period, upstream: Mapping[str, Frames]) -> Read:
        """The read asset `name` for `period`; `upstream` holds the reads it depends on."""
        ...

    def items(self, reads: Mapping[str, Frames]) -> list[Item]:
        """Every record of the period's reads, one item each, in a stable order."""
        ...

    def changed(self, versions: Mapping[str, str | None]) -> set[str]:
        """Keys whose version in the source is no longer the one read (or that are gone)."""
        ...


class EventPeriods(Protocol):
    """A source that says which periods webhook events touch (an invoice event, its
    invoice's period; a job event, the periods of the job's invoices)."""

    def event_periods(self, events: Sequence[Any]) -> dict[int, set[str]]:
        """Inbox row id -> partition keys it touches (empty: none this flow syncs)."""
        ...


class ChangePoll(Protocol):
    """A source that can say, cheaply, what changed since a cursor (of any period):
    one request when nothing changed. The flow's change sensor polls it."""

    def changes(self, cursor: str | None) -> Changes:
        """Changes after `cursor`; with no cursor, none, and the cursor of now."""
        ...


class Target(Protocol):
    """How one flow writes into its target system.

    A target may set `lookup_before_create = True` (a class attribute): then every
    create is looked up first, not only the records intended before, for a target
    that has no idempotency key and that others (people, other tools) may have given
    the record already. `lookup` is then called with records never intended, and a
    `since` that is only a lower bound of when this connector could have written.
    `lookup` is also asked for the records of `op="link"`: their counterpart in the
    target, which the opposite flow read them from. A target may also set `writers`
    (an int): the writer threads its write step runs, for a target that sends the
    creates of several threads in one request and so needs more of them in flight."""

    def lookup(self, records: Sequence[Outbound], since: datetime) -> dict[str, str | Ambiguous]:
        """For records already created (since `since`): the target id carrying this
        connection's exact provenance marker, or why none can be adopted."""
        ...

    def create(self, record: Outbound) -> str: ...

    def update(self, record: Outbound, target_id: str) -> Correction | None:
        """Bring the target record to the payload; or, when its period is closed in the
        target and the flow writes changes after close as corrections, write the change
        as a record of its own in a later, open period (looked up by its identity first,
        `record.corrections` being those written before) and say so."""
        ...

    def cancel(self, record: Outbound, target_id: str) -> None: ...


class LedgerStore(Protocol):
    """What the protocol needs of the store (a plan passes one that writes nothing)."""

    def ledger(
        self,
        connection: str,
        flow: str,
        keys: Iterable[str],
        hashes: Mapping[str, str] | None = None,
    ) -> dict[str, LedgerEntry]: ...

    def corrections(
        self, connection: str, flow: str, *, keys: Iterable[str]
    ) -> dict[str, list[Correction]]: ...

    def leases(
        self, connection: str, flow: str, terms: LeaseTerms | None, run_id: str | None
    ) -> Any:
        """A context manager holding the step's leases: `take(keys)`, and `check()`
        (the fence) and `lose(cause)`."""
        ...

    def record_intents(
        self, intents: Iterable[tuple[RecordRef, str, Audit, str | None]]
    ) -> None: ...

    def record_skip(self, ref: RecordRef, audit: Audit) -> None: ...

    def withdraw_intents(
        self, intents: Iterable[tuple[RecordRef, LedgerEntry | None, Audit]]
    ) -> None: ...

    def record_synced(self, ref: RecordRef, **kw: Any) -> None: ...

    def record_failed(self, ref: RecordRef, **kw: Any) -> None: ...


class ChangeCheck(Protocol):
    """The source side: which records changed since the versions that were read."""

    system: str

    def changed(self, versions: Mapping[str, str | None]) -> set[str]: ...
