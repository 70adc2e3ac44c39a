"""OData v4 as the IFS simulator serves it: types, values, query options, paging.

Entity types and Edm value conversion, `$orderby`, `$select`, `$top`/`$skip`,
query-string parsing and nextLink building with `$skiptoken`. The `$filter`
language and key predicates are in `odata_filter`. Errors are `ODataError`s in
IFS's shape.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import unquote

STRING, DECIMAL, DATE, DATETIME = "Edm.String", "Edm.Decimal", "Edm.Date", "Edm.DateTimeOffset"

Row = tuple[Any, ...]


class ODataError(Exception):
    """An error answered as `{"error": {"code", "message", "details"}}`."""

    def __init__(
        self,
        status: int,
        code: str | None,
        message: str,
        details: Iterable[dict] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details)
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        if self.code is None:  # IFS's 401 has neither code nor details
            return {"error": {"message": self.message}}
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


def syntax_error(text: str, pos: int) -> ODataError:
    return ODataError(
        400,
        "ODP_UNSUPPORTED_URL",
        f"Malformed Request: syntax error at position {pos} in '{text}'.",
    )


def malformed(detail_code: str, detail: str) -> ODataError:
    return ODataError(
        400, "ODP_UNSUPPORTED_URL", "Malformed Request.", [{"code": detail_code, "message": detail}]
    )


@dataclass(frozen=True)
class Property:
    """A structural property; `type` is an Edm type or, with `members`, an enum type name."""

    name: str
    type: str = STRING
    members: tuple[str, ...] = ()
    max_length: int | None = None


class EntityType:
    """The properties of one entity type, positioned as in the stored row tuples."""

    def __init__(
        self, namespace: str, name: str, properties: Iterable[Property], keys: Iterable[str]
    ):
        self.namespace = namespace
        self.name = name
        self.qualified_name = f"{namespace}.{name}"
        self.properties = tuple(properties)
        self.keys = tuple(keys)
        self.index = {p.name: i for i, p in enumerate(self.properties)}
        self.by_name = {p.name: p for p in self.properties}

    def type_of(self, prop: Property) -> str:
        return f"{self.namespace}.{prop.type}" if prop.members else prop.type

    def prop(self, name: str) -> Property:
        try:
            return self.by_name[name]
        except KeyError:
            raise malformed(
                "EXPRESSION_PROPERTY_NOT_IN_TYPE",
                f"The property '{name}', used in a query expression, is not defined in type "
                f"'{self.qualified_name}'.",
            ) from None


# -- Edm values ---------------------------------------------------------------------------------

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_datetime(text: str) -> datetime:
    """An Edm.DateTimeOffset literal, normalised to UTC."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"'{text}' has no time zone")
    return value.astimezone(UTC)


def format_datetime(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _number_text(value: Any) -> str:
    return format(value.normalize(), "f") if isinstance(value, Decimal) else str(value)


def json_converter(prop: Property, ieee754: bool) -> Callable[[Any], Any] | None:
    """How a stored value of `prop` is written to JSON (None: as it is)."""
    if prop.type == DECIMAL:
        return _number_text if ieee754 else _number
    if prop.type == DATETIME:
        return format_datetime
    return None


def from_json(prop: Property, raw: Any) -> Any:
    """A JSON body value for `prop`, checked and converted; ValueError if it does not fit."""
    if raw is None:
        return None
    if prop.type == DECIMAL:
        if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal | str):
            raise ValueError(f"'{raw}' is not a number")
        try:
            value = Decimal(str(raw))
        except InvalidOperation:
            raise ValueError(f"'{raw}' is not a number") from None
        if not value.is_finite():
            raise ValueError(f"'{raw}' is not a number")
        return value
    if not isinstance(raw, str):
        raise ValueError(f"{raw!r} is not a string")
    if prop.type == DATE:
        if not _DATE_RE.fullmatch(raw):
            raise ValueError(f"'{raw}' is not a date (YYYY-MM-DD)")
        date.fromisoformat(raw)
    elif prop.type == DATETIME:
        return parse_datetime(raw)
    elif prop.members and raw not in prop.members:
        raise ValueError(f"'{raw}' is not one of {', '.join(prop.members)}")
    elif prop.max_length is not None and len(raw) > prop.max_length:
        raise ValueError(f"'{raw[:20]}…' is longer than {prop.max_length} characters")
    return raw


def format_literal(value: Any) -> str:
    """A key value as a URL literal: strings quoted with '' escaping, numbers bare."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return _number_text(value)


# -- $orderby, $select ------------------------------------------------------------------------

_ORDER_ITEM = re.compile(r"\s*([A-Za-z_]\w*)(?:\s+(asc|desc))?\s*")


def parse_orderby(text: str, etype: EntityType) -> list[tuple[int, bool]]:
    """`$orderby` as (row index, descending) pairs."""
    result, pos = [], 0
    for item in text.split(","):
        m = _ORDER_ITEM.fullmatch(item)
        if m is None:
            raise syntax_error(text, pos + len(item) - len(item.lstrip()))
        prop = etype.prop(m.group(1))
        result.append((etype.index[prop.name], m.group(2) == "desc"))
        pos += len(item) + 1
    return result


def sort_rows(rows: list[Row], order: list[tuple[int, bool]]) -> None:
    """Sort in place like Oracle: nulls last ascending, first descending."""
    for index, descending in reversed(order):
        rows.sort(key=lambda r, i=index: (1, "") if r[i] is None else (0, r[i]), reverse=descending)


def parse_select(text: str, etype: EntityType) -> tuple[str, ...] | None:
    """`$select` as property names, None for all."""
    names = [n.strip() for n in text.split(",")]
    if "*" in names:
        return None
    return tuple(etype.prop(n).name for n in names)


# -- query string ------------------------------------------------------------------------------


def parse_query(raw: str) -> dict[str, str]:
    """Query options, names and values percent-decoded; '+' stays '+' (send spaces as %20)."""
    options: dict[str, str] = {}
    for part in raw.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        name = unquote(name)
        if name in options and name.startswith("$"):
            raise ODataError(
                400, "ODP_UNSUPPORTED_URL", f"The system query option '{name}' appears twice."
            )
        options[name] = unquote(value)
    return options


def non_negative_int(text: str) -> int:
    """A `$top`/`$skip`/`$skiptoken` value."""
    if not (text.isascii() and text.isdigit()):
        raise syntax_error(text, 0)
    return int(text)


def with_skiptoken(base_url: str, raw_query: str, token: int) -> str:
    """The same request URL with `$skiptoken` replaced, other options kept verbatim."""
    parts = [p for p in raw_query.split("&") if p and unquote(p.partition("=")[0]) != "$skiptoken"]
    parts.append(f"$skiptoken={token}")
    return f"{base_url}?{'&'.join(parts)}"
