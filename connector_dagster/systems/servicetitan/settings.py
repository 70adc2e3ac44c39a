"""A ServiceTitan tenant in a connection (`servicetitan:` in the connections file),
with the settings of its webhooks."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator

from connector_dagster.systems.settings import SettingsModel, SystemSettings, secure_url

WEBHOOK_EVENT_TYPES = (
    *(f"tn.acc.invoice-{e}" for e in ("batched", "exported", "posted", "updated")),
    *(
        f"tn.jpm.job-{e}"
        for e in ("completed", "updated", "scheduled", "rescheduled", "appointment-updated")
    ),
)
_HEADER = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
_EVENT_TYPE = re.compile(r"^tn\.[a-z]+\.[a-z0-9-]+$")


class WebhookSettings(SettingsModel):
    """How the connection's endpoint of the webhook receiver takes ServiceTitan's
    events (the signing key itself is in the vault: `webhook_key`)."""

    enabled: bool = True
    signature_header: str = "X-ST-Signature"
    """The request header holding the HMAC-SHA256 of the raw body, hex or base64."""
    max_body_bytes: int = Field(262_144, ge=1024, le=10_485_760)
    """Larger bodies are refused (413); event payloads carry headers only, a few KB."""
    event_types: tuple[str, ...] = WEBHOOK_EVENT_TYPES
    """The event types accepted; others are refused (422)."""
    key_grace_hours: float = Field(72, gt=0, le=24 * 30)
    """After `webhooks rotate-key`, how long the previous key is still accepted."""
    key_cache_s: float = Field(10, ge=0, le=300)
    """How long the receiver keeps the keys read from the vault before reading again."""
    max_event_age_hours: float = Field(72, gt=0, le=24 * 30)
    """Events whose `time` is older are refused (422): ServiceTitan's retries end 400 s
    after an event, so only a replay from its portal comes later; a captured body
    replayed after that is not taken. Raise it to take an old replay."""
    max_event_ahead_s: float = Field(300, ge=0, le=24 * 3600)
    """Events dated further ahead of the receiver's clock are refused (422) as well."""

    @field_validator("signature_header")
    @classmethod
    def _header(cls, v: str) -> str:
        if not _HEADER.match(v):
            raise ValueError("must be an HTTP header name (letters, digits and -)")
        return v

    @field_validator("event_types")
    @classmethod
    def _types(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [t for t in v if not _EVENT_TYPE.match(t)]
        if bad:
            raise ValueError(
                f"{', '.join(map(repr, bad))}: event types look like tn.acc.invoice-posted"
            )
        if not v:
            raise ValueError("must list at least one event type (or set enabled: false)")
        return v


class ServiceTitanConnection(SystemSettings):
    api_url: str
    auth_url: str
    tenant_id: str
    rate_per_s: float = Field(60, gt=0)
    page_size: int = Field(500, gt=0, le=5000)
    timeout_s: float = Field(100, gt=0)
    """Read timeout of one request: how long an answer is waited for."""
    connect_timeout_s: float = Field(10, gt=0)
    """Connect timeout, also the write timeout of a request's body."""
    token_margin_s: float = Field(60, ge=0)
    webhooks: WebhookSettings = WebhookSettings()

    @field_validator("api_url", "auth_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return secure_url(v, "ServiceTitan API")

    @field_validator("tenant_id", mode="before")
    @classmethod
    def _tenant(cls, v: Any) -> str:
        text = str(v)
        if not text.isdigit() or not text.isascii():
            raise ValueError("must be the numeric ServiceTitan tenant id (digits only)")
        return text
