"""Plan mode: the write protocol run against a target that records the writes it would
send and sends none, on a store that reads the ledger and changes nothing.

Mapping, validation, the source's change check and the look-ups run as in a real
run (they only read), so the plan lists exactly the creates, updates and
cancellations a real run would make now, with their payloads.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector_dagster.engine.protocols import Target
from connector_dagster.engine.records import Ambiguous, Outbound
from connector_dagster.lib.store import Audit, Correction, LedgerEntry, RecordRef, Store


@dataclass(frozen=True)
class PlannedWrite:
    """One write a real run would send."""

    key: str
    action: str  # create, update, cancel
    target_id: str | None
    payload: dict[str, Any] | None
    previous: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-able: amounts as their exact decimal text."""
        return json.loads(
            json.dumps(
                {
                    "key": self.key,
                    "action": self.action,
                    "target_id": self.target_id,
                    "payload": self.payload,
                },
                default=str,
            )
        )


class PlanTarget:
    """The flow's target for look-ups; every write is recorded, not sent."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.writes: list[PlannedWrite] = []
        self._lock = threading.Lock()

    @property
    def lookup_before_create(self) -> bool:
        """As the flow's target asks: a plan looks up what a real run would."""
        return bool(getattr(self.target, "lookup_before_create", False))

    def lookup(self, records: Sequence[Outbound], since: datetime) -> dict[str, str | Ambiguous]:
        return self.target.lookup(records, since)

    def _plan(self, write: PlannedWrite) -> None:
        with self._lock:
            self.writes.append(write)

    def create(self, record: Outbound) -> str:
        self._plan(PlannedWrite(record.key, "create", None, record.payload))
        return f"(planned {record.key})"

    def update(self, record: Outbound, target_id: str) -> Correction | None:
        self._plan(PlannedWrite(record.key, "update", target_id, record.payload, record.previous))
        return None

    def cancel(self, record: Outbound, target_id: str) -> None:
        self._plan(PlannedWrite(record.key, "cancel", target_id, record.payload))


class _NoLeases:
    """A plan writes nothing, so it needs no lease: every record is its own."""

    def take(self, keys: Iterable[str]) -> set[str]:
        return set(keys)

    def check(self) -> None:
        return None

    def lose(self, cause: str) -> None:
        return None

    def __enter__(self) -> _NoLeases:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class ReadOnlyStore:
    """The ledger as it is; the protocol's writes to it (intents, outcomes, audit
    rows, failed records) go nowhere."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def ledger(
        self,
        connection: str,
        flow: str,
        keys: Iterable[str],
        hashes: Mapping[str, str] | None = None,
    ) -> dict[str, LedgerEntry]:
        return self._store.ledger(connection, flow, keys, hashes)

    def corrections(
        self, connection: str, flow: str, *, keys: Iterable[str]
    ) -> dict[str, list[Correction]]:
        return self._store.corrections(connection, flow, keys=keys)

    def leases(self, *args: object) -> _NoLeases:
        return _NoLeases()

    def record_intents(self, intents: Iterable[tuple[RecordRef, str, Audit, str | None]]) -> None:
        list(intents)

    def record_skip(self, ref: RecordRef, audit: Audit) -> None:
        return None

    def withdraw_intents(
        self, intents: Iterable[tuple[RecordRef, LedgerEntry | None, Audit]]
    ) -> None:
        list(intents)

    def record_synced(self, ref: RecordRef, **kw: Any) -> None:
        return None

    def record_failed(self, ref: RecordRef, **kw: Any) -> None:
        return None
