"""The webhook inbox: verified ServiceTitan events, deduplicated, read by cursor."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg2.extras import Json, execute_values

from connector_dagster.lib.store import Store


@dataclass(frozen=True)
class InboxEvent:
    id: int
    connection: str
    occurrence_id: str
    event_type: str
    event_time: datetime | None
    body: dict[str, Any]


@dataclass(frozen=True)
class NewEvent:
    """A verified event to store: which connection, occurrence and delivery."""

    connection: str
    occurrence_id: str
    event_type: str
    event_time: datetime | str | None
    body: dict[str, Any]
    delivery_id: str | None = None


def insert_if_new(
    store: Store,
    connection: str,
    occurrence_id: str,
    event_type: str,
    event_time: datetime | str | None,
    body: dict[str, Any],
    delivery_id: str | None = None,
) -> int | None:
    """Store an event once per occurrence; returns the new row id, or None if seen
    before (then the row's delivery count goes up)."""
    event = NewEvent(connection, occurrence_id, event_type, event_time, body, delivery_id)
    return insert_many(store, [event])[0]


def insert_many(store: Store, events: Sequence[NewEvent]) -> list[int | None]:
    """Store each event once per (connection, occurrence) in one transaction; per
    event, in order, the new row id or None when the occurrence was stored already
    (by an earlier delivery or an earlier event of `events`), whose delivery count
    then goes up. Rows are written in key order, so concurrent writers cannot
    deadlock. Committed durably on return whatever the server's `synchronous_commit`:
    an acknowledged event is never lost."""
    if not events:
        return []
    first: dict[tuple[str, str], int] = {}
    for position, e in enumerate(events):
        first.setdefault((e.connection, e.occurrence_id), position)
    rows = sorted(first.items())
    with store.cursor() as cur:
        cur.execute("SET LOCAL synchronous_commit TO on")
        inserted = execute_values(
            cur,
            """INSERT INTO connector.webhook_inbox
                   (connection, occurrence_id, event_type, event_time, body, delivery_id)
               VALUES %s
               ON CONFLICT (connection, occurrence_id) DO NOTHING
               RETURNING connection, occurrence_id, id""",
            [
                (e.connection, e.occurrence_id, e.event_type, e.event_time, Json(e.body),
                 e.delivery_id)
                for e in (events[position] for _, position in rows)
            ],
            page_size=len(rows),
            fetch=True,
        )  # fmt: skip
        ids = {(c, o): row_id for c, o, row_id in inserted}
        repeats = Counter((e.connection, e.occurrence_id) for e in events)
        for key in ids:
            repeats[key] -= 1
        again = sorted((c, o, n) for (c, o), n in repeats.items() if n > 0)
        if again:
            execute_values(
                cur,
                """UPDATE connector.webhook_inbox AS i
                   SET deliveries = i.deliveries + d.n, last_delivered_at = now()
                   FROM (VALUES %s) AS d (connection, occurrence_id, n)
                   WHERE i.connection = d.connection AND i.occurrence_id = d.occurrence_id""",
                again,
                page_size=len(again),
            )
    return [
        ids.get(key) if first[key] == position else None
        for position, key in enumerate((e.connection, e.occurrence_id) for e in events)
    ]


def since(store: Store, connection: str, cursor: int, limit: int = 500) -> list[InboxEvent]:
    """Unprocessed events after row id `cursor`, oldest first."""
    with store.cursor() as cur:
        cur.execute(
            """SELECT id, connection, occurrence_id, event_type, event_time, body
               FROM connector.webhook_inbox
               WHERE connection = %s AND id > %s AND processed_at IS NULL
               ORDER BY id LIMIT %s""",
            (connection, cursor, limit),
        )
        return [InboxEvent(*row) for row in cur.fetchall()]


def pending(
    store: Store, connection: str, types: Sequence[str], limit: int = 500
) -> list[InboxEvent]:
    """Unprocessed events of these types, oldest first: one query (the partial index on
    unprocessed rows keeps it cheap when there are none). Not by a cursor of row ids:
    ids are taken before commit, so a lower id can become visible after a higher one."""
    with store.cursor() as cur:
        cur.execute(
            """SELECT id, connection, occurrence_id, event_type, event_time, body
               FROM connector.webhook_inbox
               WHERE connection = %s AND processed_at IS NULL AND event_type = ANY(%s)
               ORDER BY id LIMIT %s""",
            (connection, list(types), limit),
        )
        return [InboxEvent(*row) for row in cur.fetchall()]


def mark_processed(store: Store, ids: Iterable[int], run_id: str) -> int:
    """Mark events processed (idempotent); returns how many changed."""
    ids = list(ids)
    if not ids:
        return 0
    with store.cursor() as cur:
        cur.execute(
            """UPDATE connector.webhook_inbox SET processed_at = now(), processed_run = %s
               WHERE id = ANY(%s) AND processed_at IS NULL""",
            (run_id, ids),
        )
        return cur.rowcount
