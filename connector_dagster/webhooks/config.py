"""What the receiver serves: one endpoint per connection of the connections file whose
`servicetitan.webhooks` is enabled, at `/webhooks/<connection>`, with that block's
settings (signature header, body limit, event types, the window of event times, key
grace and cache)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from connector_dagster.engine import connections
from connector_dagster.systems.servicetitan.settings import WebhookSettings
from connector_dagster.webhooks.envelope import Expect

PREFIX = "/webhooks"
DEFAULT_PORT = 8590


@dataclass(frozen=True)
class Endpoint:
    connection: str
    settings: WebhookSettings
    expect: Expect

    @property
    def path(self) -> str:
        return f"{PREFIX}/{self.connection}"


@dataclass(frozen=True)
class ReceiverConfig:
    endpoints: dict[str, Endpoint]
    db_connections: int = 4
    """PostgreSQL sessions of the receiver (inbox writers, vault reads, health)."""
    writers: int = 2
    """Inbox transactions in flight at once; deliveries arriving meanwhile are batched."""
    max_batch: int = 256
    """Deliveries stored in one transaction at most."""
    refusal_flush_s: float = 1.0
    """How often refusal counts are added to `connector.webhook_refusals`."""
    disabled: tuple[str, ...] = field(default=())
    """Connections whose webhooks are switched off (`enabled: false`)."""


def load_config(path: Path | None = None) -> ReceiverConfig:
    """The receiver's endpoints from the connections file (ConfigError names the
    file, line and field of a bad setting)."""
    endpoints = {}
    disabled = []
    for name, conn in connections.load(path).items():
        if conn.servicetitan is None:
            continue  # the connection reaches no ServiceTitan tenant
        settings = conn.servicetitan.webhooks
        if not settings.enabled:
            disabled.append(name)
            continue
        expect = Expect(
            conn.servicetitan.tenant_id,
            frozenset(settings.event_types),
            timedelta(hours=settings.max_event_age_hours),
            timedelta(seconds=settings.max_event_ahead_s),
        )
        endpoints[name] = Endpoint(name, settings, expect)
    return ReceiverConfig(endpoints, disabled=tuple(disabled))


def registration_url(base_url: str, connection: str) -> str:
    """The callback URL to register in ServiceTitan for `connection`'s events."""
    return f"{base_url.rstrip('/')}{PREFIX}/{connection}"
