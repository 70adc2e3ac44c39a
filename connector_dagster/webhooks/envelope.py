"""ServiceTitan's CloudEvents 1.0 envelope: parse a verified body into an `Event`, or
refuse it naming the attribute that is wrong (never quoting the payload)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connector_dagster.webhooks.refusals import Refused

MAX_ID_CHARS = 200


@dataclass(frozen=True)
class Expect:
    """What a connection takes: its tenant and the event types it is set up for."""

    tenant_id: str
    event_types: frozenset[str]


@dataclass(frozen=True)
class Event:
    occurrence_id: str
    """`userassignedid`: the same on every delivery of one occurrence (dedupe on it)."""
    delivery_id: str
    """`id`: new on each delivery attempt."""
    type: str
    time: datetime | None
    tenant_id: str
    body: dict[str, Any]
    signed_with: str = "current"
    """Which webhook key verified it: `current`, or `previous` during a rotation."""


def parse_event(body: bytes, expect: Expect) -> Event:
    """The event of a body whose signature is verified; Refused (400 or 422) otherwise."""
    try:
        envelope = json.loads(body, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError):
        raise Refused("not_json", "the body is not UTF-8 JSON") from None
    if not isinstance(envelope, dict):
        raise Refused("envelope_invalid", "the body is not a CloudEvents object")
    if envelope.get("specversion") != "1.0":
        raise Refused("envelope_invalid", '`specversion` is not "1.0"')
    occurrence = _text(envelope, "userassignedid")
    delivery = _text(envelope, "id")
    kind = _text(envelope, "type")
    _text(envelope, "source")
    data = envelope.get("data")
    if not isinstance(data, dict):
        raise Refused("envelope_invalid", "`data` is missing or not an object")
    tenant = _tenant(data.get("tenantId"))
    if kind not in expect.event_types:
        raise Refused(
            "event_type_unknown",
            f"event type {kind[:100]!r} is not one this connection takes; add it to "
            "servicetitan.webhooks.event_types in the connections file, or unsubscribe "
            "it in ServiceTitan's developer portal",
        )
    if tenant != expect.tenant_id:
        raise Refused(
            "tenant_unknown",
            f"the event is for ServiceTitan tenant {tenant}, the connection's "
            f"tenant is {expect.tenant_id}; register each tenant's receiver URL "
            "(/webhooks/<its connection>) or fix servicetitan.tenant_id",
        )
    return Event(occurrence, delivery, kind, _time(envelope.get("time")), tenant, envelope)


def _no_constant(name: str) -> Any:
    """NaN and Infinity are not JSON (Python's parser takes them by default)."""
    raise ValueError(f"{name} is not JSON")


def _text(envelope: dict[str, Any], name: str) -> str:
    value = envelope.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID_CHARS:
        raise Refused(
            "envelope_invalid",
            f"`{name}` is missing or not a string of 1 to {MAX_ID_CHARS} characters",
        )
    return value


def _tenant(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return str(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return value
    raise Refused("envelope_invalid", "`data.tenantId` is missing or not a tenant id")


def _time(value: Any) -> datetime | None:
    """The optional RFC 3339 `time`; one without an offset is read as UTC."""
    if value is None:
        return None
    try:
        instant = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        instant = None
    if instant is None:
        raise Refused("envelope_invalid", "`time` is not an RFC 3339 timestamp")
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)
