"""The webhook inbox: verified ServiceTitan events, deduplicated, read by cursor."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg2.extras import Json

from connector_dagster.lib.store import Store


@dataclass(frozen=True)
class InboxEvent:
    id: int
    connection: str
    occurrence_id: str
    event_type: str
    event_time: datetime | None
    body: dict[str, Any]


def insert_if_new(
    store: Store,
    connection: str,
    occurrence_id: str,
    event_type: str,
    event_time: datetime | str | None,
    body: dict[str, Any],
) -> int | None:
    """Store an event once per occurrence; returns the new row id, or None if seen before."""
    with store.cursor() as cur:
        cur.execute(
            """INSERT INTO connector.webhook_inbox
                   (connection, occurrence_id, event_type, event_time, body)
               VALUES (%s, %s, %s, %s, %s)
               ON CONFLICT (connection, occurrence_id) DO NOTHING
               RETURNING id""",
            (connection, occurrence_id, event_type, event_time, Json(body)),
        )
        row = cur.fetchone()
        return row[0] if row else None


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
