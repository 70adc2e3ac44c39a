"""The receiver's and the inbox's health per connection, read from PostgreSQL (so any
process can show it: `connector-dagster webhooks status`, the UI): events received,
deliveries of them repeated, refusals by reason, events pending and how old the
oldest pending one is."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from connector_dagster.lib.store import Store


@dataclass(frozen=True)
class WebhookHealth:
    connection: str
    received: int = 0
    """Distinct events (occurrences) stored."""
    redelivered: int = 0
    """Deliveries of an event already stored: answered 2xx, not stored again."""
    refused: dict[str, int] = field(default_factory=dict)
    """Refused deliveries by reason (`refusals.STATUS` gives each one's HTTP status)."""
    pending: int = 0
    """Events stored and not yet processed by the inbox sensor."""
    oldest_pending_age_s: float | None = None
    last_received_at: datetime | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "connection": self.connection,
            "received": self.received,
            "redelivered": self.redelivered,
            "refused": dict(sorted(self.refused.items())),
            "pending": self.pending,
            "oldest_pending_age_s": self.oldest_pending_age_s,
            "last_received_at": self.last_received_at.isoformat()
            if self.last_received_at
            else None,
        }


def health(store: Store, connections: Iterable[str]) -> list[WebhookHealth]:
    """One entry per connection, in the order given; two queries in all."""
    names = list(connections)
    with store.cursor() as cur:
        cur.execute(
            """SELECT connection, count(*), coalesce(sum(deliveries - 1), 0),
                      count(*) FILTER (WHERE processed_at IS NULL),
                      extract(epoch FROM now() - min(received_at)
                              FILTER (WHERE processed_at IS NULL)),
                      max(last_delivered_at)
               FROM connector.webhook_inbox WHERE connection = ANY(%s)
               GROUP BY connection""",
            (names,),
        )
        inbox = {row[0]: row[1:] for row in cur.fetchall()}
        cur.execute(
            """SELECT connection, reason, refused FROM connector.webhook_refusals
               WHERE connection = ANY(%s)""",
            (names,),
        )
        refused: dict[str, dict[str, int]] = {}
        for connection, reason, count in cur.fetchall():
            refused.setdefault(connection, {})[reason] = count
    result = []
    for name in names:
        received, redelivered, pending, age, last = inbox.get(name, (0, 0, 0, None, None))
        result.append(
            WebhookHealth(
                name,
                received,
                int(redelivered),
                refused.get(name, {}),
                pending,
                round(float(age), 3) if age is not None else None,
                last,
            )
        )
    return result
