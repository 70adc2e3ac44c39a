"""The write protocol's look-ups beyond crash recovery: a target that asks for every
create to be looked up first, and records of the opposite flow that are linked to
their counterpart, never written. An in-memory target, a real PostgreSQL ledger."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from connector_dagster.engine.records import Ambiguous, Outbound
from connector_dagster.engine.sync import Syncer
from connector_dagster.lib.store import Audit, RecordRef, Store


class Notes:
    """A target system holding notes by id; `marker` is the provenance a note carries."""

    def __init__(self, **existing: dict[str, Any]) -> None:
        self.rows: dict[str, dict[str, Any]] = dict(existing)
        self.writes: list[tuple[str, str]] = []

    def lookup(self, records: Sequence[Outbound], since: datetime) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for record in records:
            ids = [i for i, row in self.rows.items() if row.get("marker") == record.key]
            if len(ids) == 1:
                found[record.key] = ids[0]
            elif ids:
                found[record.key] = Ambiguous(f"notes {', '.join(ids)} carry the marker")
        return found

    def create(self, record: Outbound) -> str:
        target_id = f"T-{len(self.rows) + 1}"
        self.rows[target_id] = {"marker": record.key, **(record.payload or {})}
        self.writes.append(("create", target_id))
        return target_id

    def update(self, record: Outbound, target_id: str) -> None:
        self.rows[target_id].update(record.payload or {})
        self.writes.append(("update", target_id))

    def cancel(self, record: Outbound, target_id: str) -> None:
        self.rows.pop(target_id)
        self.writes.append(("cancel", target_id))


class CarefulNotes(Notes):
    lookup_before_create = True


def records(*keys: str, op: str = "upsert") -> list[Outbound]:
    return [Outbound(k, "2026-10-01", {"body": f"text of {k}"}, "v1", op=op) for k in keys]


def sync(store: Store, target: Notes, batch: list[Outbound]) -> dict[str, int]:
    return Syncer(store, target, "c", "notes", workers=2).run(batch).counts()


def test_a_target_that_asks_adopts_a_record_someone_gave_it_before_the_first_create(
    store: Store,
) -> None:
    target = CarefulNotes(**{"T-9": {"marker": "N-1", "body": "typed by a person"}})
    counts = sync(store, target, records("N-1", "N-2"))
    assert (counts["adopted"], counts["created"]) == (1, 1)
    assert [r["marker"] for r in target.rows.values()] == ["N-1", "N-2"]
    assert target.rows["T-9"]["body"] == "text of N-1"  # adopted, then brought up to date
    assert store.ledger("c", "notes", ["N-1"])["N-1"].target_id == "T-9"


def test_without_asking_only_records_intended_before_are_looked_up(store: Store) -> None:
    target = Notes(**{"T-9": {"marker": "N-1"}})
    assert sync(store, target, records("N-1"))["created"] == 1
    assert sorted(r["marker"] for r in target.rows.values()) == ["N-1", "N-1"]


def test_two_candidates_for_a_create_are_a_conflict_and_nothing_is_written(
    store: Store,
) -> None:
    target = CarefulNotes(**{"T-8": {"marker": "N-1"}, "T-9": {"marker": "N-1"}})
    counts = sync(store, target, records("N-1"))
    assert counts["failed"] == 1 and target.writes == []
    [failed] = store.failed(connection="c")
    assert failed.reason == "conflict" and "T-8, T-9" in failed.message


def test_a_link_records_its_counterpart_and_writes_nothing_then_or_later(store: Store) -> None:
    target = Notes(**{"T-5": {"marker": "N-1", "body": "theirs"}})
    counts = sync(store, target, records("N-1", "N-2", op="link"))
    assert (counts["adopted"], counts["skipped"], counts["created"]) == (1, 1, 0)
    assert target.writes == [] and target.rows == {"T-5": {"marker": "N-1", "body": "theirs"}}
    ledger = store.ledger("c", "notes", ["N-1", "N-2"])
    assert (ledger["N-1"].status, ledger["N-1"].target_id) == ("synced", "T-5")
    assert "N-2" not in ledger  # nothing to link to: no row, looked up again next time
    trail = [a["action"] for a in store.audit_trail(RecordRef("c", "notes", "N-1"))]
    assert trail == ["adopt", "link"]

    again = sync(store, target, records("N-1", op="link"))
    assert (again["skipped"], again["adopted"]) == (1, 0) and target.writes == []


def test_a_link_with_two_counterparts_is_a_conflict(store: Store) -> None:
    target = Notes(**{"T-5": {"marker": "N-1"}, "T-6": {"marker": "N-1"}})
    assert sync(store, target, records("N-1", op="link"))["failed"] == 1
    assert [f.reason for f in store.failed(connection="c")] == ["conflict"]
    assert target.writes == []


class CountingNotes(Notes):
    """Notes that remember each look-up's records."""

    def __init__(self, **existing: dict[str, Any]) -> None:
        super().__init__(**existing)
        self.lookups: list[list[str]] = []

    def lookup(self, records: Sequence[Outbound], since: datetime) -> dict[str, Any]:
        self.lookups.append(sorted(r.key for r in records))
        return super().lookup(records, since)


def test_records_in_doubt_are_looked_up_once_per_step_whatever_their_pages(
    store: Store,
) -> None:
    """A crash left 60 intents (pages of 25): a third of the creates reached the target.
    One look-up for all of them, not one per page; each found one adopted, the others
    created once."""
    keys = [f"N-{n:03d}" for n in range(60)]
    batch = records(*keys)
    store.record_intents(
        (RecordRef("c", "notes", r.key), r.payload_hash, Audit("intent", run_id="crashed"),
         r.source_version)
        for r in batch
    )  # fmt: skip
    sent = {f"T-{r.key}": {"marker": r.key, **(r.payload or {})} for r in batch[::3]}
    target = CountingNotes(**sent)

    counts = Syncer(store, target, "c", "notes", workers=2, page=25).run(batch).counts()

    assert target.lookups == [keys]
    assert (counts["adopted"], counts["created"]) == (len(sent), len(keys) - len(sent))
    assert sorted(row["marker"] for row in target.rows.values()) == keys
