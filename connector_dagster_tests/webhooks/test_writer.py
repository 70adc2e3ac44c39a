"""Group commit of inbox rows on a real PostgreSQL: one transaction for deliveries that
arrive together, repeats within it stored once, a row PostgreSQL refuses failing alone."""

from __future__ import annotations

import asyncio

from connector_dagster.lib.inbox import NewEvent
from connector_dagster.lib.store import Store
from connector_dagster.webhooks.refusals import Refused
from connector_dagster.webhooks.writer import InboxWriter


def _event(occurrence: str, summary: str = "ok") -> NewEvent:
    body = {"userassignedid": occurrence, "data": {"summary": summary}}
    return NewEvent("sandbox", occurrence, "tn.acc.invoice-posted", None, body, f"d-{occurrence}")


async def _store_all(writer: InboxWriter, events: list[NewEvent]) -> list[object]:
    return await asyncio.gather(*(writer.store_event(e) for e in events), return_exceptions=True)


def _rows(store: Store) -> dict[str, int]:
    with store.cursor() as cur:
        cur.execute("SELECT occurrence_id, deliveries FROM connector.webhook_inbox")
        return dict(cur.fetchall())


def test_a_batch_stores_each_occurrence_once_and_counts_the_repeats(store: Store) -> None:
    writer = InboxWriter(store, max_batch=100, writers=1)
    events = [_event(f"occ-{i % 5}") for i in range(12)]

    results = asyncio.run(_store_all(writer, events))

    assert [r is not None for r in results] == [True] * 5 + [False] * 7
    assert _rows(store) == {"occ-0": 3, "occ-1": 3, "occ-2": 2, "occ-3": 2, "occ-4": 2}
    assert asyncio.run(_store_all(writer, [_event("occ-0")])) == [None]
    assert _rows(store)["occ-0"] == 4


def test_an_event_postgresql_refuses_fails_alone_in_its_batch(store: Store) -> None:
    writer = InboxWriter(store, max_batch=100, writers=1)
    events = [_event(f"occ-{i}") for i in range(6)]
    events.insert(3, _event("occ-nul", "a \u0000 inside"))

    results = asyncio.run(_store_all(writer, events))

    refused = results.pop(3)
    assert isinstance(refused, Refused) and refused.status == 400
    assert "occ-nul" in str(refused) and "\u0000" not in str(refused)
    assert all(isinstance(r, int) for r in results)
    assert set(_rows(store)) == {f"occ-{i}" for i in range(6)}


def test_a_database_that_cannot_be_reached_answers_503(fresh_db: str) -> None:
    unreachable = Store(fresh_db.replace("/t_", "/no_such_db_", 1))
    writer = InboxWriter(unreachable, writers=1)

    [result] = asyncio.run(_store_all(writer, [_event("occ-1")]))

    assert isinstance(result, Refused)
    assert (result.status, result.reason) == (503, "store_unavailable")
    assert "ServiceTitan retries" in str(result)
