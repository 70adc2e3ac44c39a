"""Plumbing shared by the ServiceTitan simulator's resources: RFC 7807 errors,
JSON, timestamps (integer microseconds, UTC) and money."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

Row = dict[str, Any]

_PROBLEM_TYPES = {
    400: "https://tools.ietf.org/html/rfc7231#section-6.5.1",
    401: "https://tools.ietf.org/html/rfc7235#section-3.1",
    403: "https://tools.ietf.org/html/rfc7231#section-6.5.3",
    404: "https://tools.ietf.org/html/rfc7231#section-6.5.4",
    405: "https://tools.ietf.org/html/rfc7231#section-6.5.5",
    409: "https://tools.ietf.org/html/rfc7231#section-6.5.8",
    429: "https://tools.ietf.org/html/rfc6585#section-4",
}
CENT = Decimal("0.01")
DECIMAL_MAX = Decimal("79228162514264337593543950335")
"""The largest amount ServiceTitan holds: its amounts are .NET decimals, and a larger
number in a request is a 400, never a stored value."""
TOO_LARGE = "The JSON value could not be converted to System.Decimal."
"""What ServiceTitan says of a number no .NET decimal holds."""
_CENTS = Context(prec=DECIMAL_MAX.adjusted() + 4)
"""Wide enough for every digit and the cents of any amount up to DECIMAL_MAX (Python's
default of 28 digits is not: 1e26 in cents has 29)."""


class ApiError(Exception):
    """An error answered with an RFC 7807 body in ServiceTitan's `ApiErrorResponse` shape;
    `data` is that body's "additional data, intended for programmatical usage"."""

    def __init__(
        self,
        status: int,
        title: str,
        errors: Mapping[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.errors = dict(errors or {})
        self.headers = dict(headers or {})
        self.data = dict(data or {})

    def body(self) -> Row:
        return problem(self.status, self.title, self.errors, self.data)


def bad_request(
    field: str, message: str, title: str | None = None, data: Mapping[str, Any] | None = None
) -> ApiError:
    title = title or "One or more validation errors occurred."
    return ApiError(400, title, {field: [message]}, data=data)


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} was not found.", {"id": [f"{what} was not found."]})


def problem(
    status: int,
    title: str,
    errors: Mapping[str, list[str]] | None = None,
    data: Mapping[str, Any] | None = None,
) -> Row:
    return {
        "type": _PROBLEM_TYPES.get(status, "https://tools.ietf.org/html/rfc7231#section-6.6.1"),
        "title": title,
        "status": status,
        "traceId": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00",
        "errors": dict(errors or {}),
        "data": dict(data or {}),
    }


def dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def problem_body(status: int, message: str) -> tuple[bytes, str]:
    """`faults.ErrorBody` for the middleware: 429 and 5xx answers as RFC 7807, served as
    `application/json` like every error the specs document."""
    return dumps(problem(status, message)), "application/json"


# --- time: stored as integer microseconds since the Unix epoch (UTC) ---

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_US = 86_400_000_000
_DATES: dict[int, str] = {}


def to_us(dt: datetime) -> int:
    return (dt - _EPOCH) // timedelta(microseconds=1)


def now_us() -> int:
    return to_us(datetime.now(UTC))


def _date(days: int) -> str:
    text = _DATES.get(days)
    if text is None:
        text = _DATES[days] = (_EPOCH + timedelta(days=days)).strftime("%Y-%m-%d")
    return text


def fmt_ts(us: int | None) -> str | None:
    """A timestamp (createdOn, modifiedOn…): `2025-10-03T14:22:05.482113Z`."""
    if us is None:
        return None
    days, rem = divmod(us, _DAY_US)
    s, micro = divmod(rem, 1_000_000)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return f"{_date(days)}T{h:02d}:{m:02d}:{s:02d}.{micro:06d}Z"


def fmt_day(us: int | None) -> str | None:
    """A business date-time (invoiceDate, PO date…): `2025-10-03T00:00:00Z`."""
    if us is None:
        return None
    days, rem = divmod(us, _DAY_US)
    s = rem // 1_000_000
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return f"{_date(days)}T{h:02d}:{m:02d}:{s:02d}Z"


def fmt_date(us: int | None) -> str | None:
    """A bare date: `2025-10-03`."""
    return None if us is None else _date(us // _DAY_US)


def parse_dt(text: str) -> datetime:
    """RFC 3339 or a bare date; naive values are UTC. Raises ValueError, also for
    a JSON value that is not a string."""
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a date string")
    text = text.strip()
    dt = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def parse_us(text: str) -> int:
    return to_us(parse_dt(text))


# --- money ---


def dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def fits(value: Decimal) -> bool:
    """Whether `value` is an amount ServiceTitan can hold: finite, within DECIMAL_MAX."""
    return value.is_finite() and abs(value) <= DECIMAL_MAX


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP, context=_CENTS)


def money(value: Decimal) -> str:
    """Accounting money: a string with two decimals, e.g. "273.13"."""
    return f"{cents(value):.2f}"


def qty(value: Decimal) -> str:
    """Accounting quantity: a string without trailing zeros, e.g. "2" or "1.5"."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def num(value: Decimal) -> float:
    """Inventory and job amounts: JSON numbers."""
    return float(value)
