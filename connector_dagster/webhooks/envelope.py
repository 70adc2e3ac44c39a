"""ServiceTitan's CloudEvents 1.0 envelope: parse a verified body into an `Event`, or
refuse it naming the attribute that is wrong (never quoting the payload): nested too
deep, malformed, not for this connection, or dated outside its window."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from connector_dagster.webhooks.refusals import Refused

MAX_ID_CHARS = 200
MAX_DEPTH = 32
"""Deepest nesting of objects and arrays taken: ServiceTitan's events nest 3 or 4 deep
(envelope, data, invoice or job, a list in it); the JSON parser and PostgreSQL fail far
deeper."""


@dataclass(frozen=True)
class Expect:
    """What a connection takes: its tenant, the event types it is set up for, and how
    far an event's `time` may lie behind or ahead of the receiver's clock."""

    tenant_id: str
    event_types: frozenset[str]
    max_age: timedelta
    max_ahead: timedelta


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


def parse_event(body: bytes, expect: Expect, now: datetime | None = None) -> Event:
    """The event of a body whose signature is verified, as of `now` (the clock by
    default); Refused (400 or 422) otherwise."""
    too_deep = Refused(
        "body_too_deep",
        f"the body nests objects or arrays deeper than {MAX_DEPTH} levels; ServiceTitan's "
        "events nest 3 or 4, so it is not one of theirs",
    )
    try:
        envelope = json.loads(body, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError):
        raise Refused("not_json", "the body is not UTF-8 JSON") from None
    except RecursionError:
        raise too_deep from None
    if _depth(envelope) > MAX_DEPTH:
        raise too_deep
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
    time = _time(envelope.get("time"))
    _check_window(time, expect, now or datetime.now(UTC), occurrence)
    return Event(occurrence, delivery, kind, time, tenant, envelope)


def _depth(value: Any) -> int:
    """How deep objects and arrays nest in a parsed JSON value (a scalar is 0), counted
    without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in item)
    return deepest


def _check_window(time: datetime | None, expect: Expect, now: datetime, occurrence: str) -> None:
    """Refuse (422) an event dated more than `max_age` before `now` or more than
    `max_ahead` after it; one without a `time` cannot be judged and is taken."""
    if time is None:
        return
    if time < now - expect.max_age:
        raise Refused(
            "event_too_old",
            f"occurrence {occurrence[:100]!r} is dated {time:%Y-%m-%d %H:%M:%S} UTC, more "
            f"than {_span(expect.max_age)} ago; ServiceTitan's retries of it are over, so "
            "this is a late replay. Its changes reach IFS by the change poll; to take "
            "such replays, raise servicetitan.webhooks.max_event_age_hours",
        )
    if time > now + expect.max_ahead:
        raise Refused(
            "event_in_future",
            f"occurrence {occurrence[:100]!r} is dated {time:%Y-%m-%d %H:%M:%S} UTC, more "
            f"than {_span(expect.max_ahead)} ahead of this receiver's clock; check the "
            "clock (NTP), or raise servicetitan.webhooks.max_event_ahead_s",
        )


def _span(span: timedelta) -> str:
    seconds = span.total_seconds()
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds:g} s"


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
    return (instant if instant.tzinfo else instant.replace(tzinfo=UTC)).astimezone(UTC)
