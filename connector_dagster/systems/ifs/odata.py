"""OData v4 query strings for IFS Cloud, built by hand so that every literal is right.

Pure functions, no I/O. Literals follow IFS: strings quoted with `'` doubled,
numbers bare, `Edm.Date` as `2026-02-01`, date-times in UTC with `Z`, enums
with their full type name (`IfsApp.P.T'Value'`). Query options keep their `$`
unencoded (IFS rejects `%24filter`); their values are percent-encoded, non-ASCII
as UTF-8.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from urllib.parse import quote

_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")
_TYPE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
_QUERY_SAFE = "'(),:/"
"""Characters left readable in option values; everything else is percent-encoded."""


@dataclass(frozen=True)
class EnumValue:
    """An enumeration literal: `IfsApp.CustomerOrderHandling.CustomerOrderState'Released'`."""

    type_name: str
    value: str

    def __post_init__(self) -> None:
        if not _TYPE_NAME.match(self.type_name):
            raise ValueError(f"not a qualified enum type name: {self.type_name!r}")


def enum(type_name: str, value: str) -> EnumValue:
    """An enum literal of `type_name` (e.g. `IfsApp.P.OrderState`)."""
    return EnumValue(type_name, value)


Literal = str | int | Decimal | date | datetime | EnumValue | bool | None


def field(name: str) -> str:
    """A property name (or navigation path `A/B`), checked so it cannot inject syntax."""
    if not _FIELD.match(name):
        raise ValueError(f"not an OData property name: {name!r}")
    return name


def literal(value: Literal) -> str:
    """The OData literal for a Python value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, EnumValue):
        return f"{value.type_name}{_quote_string(value.value)}"
    if isinstance(value, str):
        return _quote_string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} has no OData literal")
        return format(value, "f")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()}: give it a timezone")
        utc = value.astimezone(UTC).replace(microsecond=0)
        return utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"no OData literal for {type(value).__name__} {value!r} (floats are refused)")


def _quote_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _compare(op: str, name: str, value: Literal) -> str:
    return f"{field(name)} {op} {literal(value)}"


def eq(name: str, value: Literal) -> str:
    return _compare("eq", name, value)


def ne(name: str, value: Literal) -> str:
    return _compare("ne", name, value)


def gt(name: str, value: Literal) -> str:
    return _compare("gt", name, value)


def ge(name: str, value: Literal) -> str:
    return _compare("ge", name, value)


def lt(name: str, value: Literal) -> str:
    return _compare("lt", name, value)


def le(name: str, value: Literal) -> str:
    return _compare("le", name, value)


def and_(*clauses: str | None) -> str:
    """Clauses joined with `and`, each parenthesised; empty clauses are skipped."""
    return _join("and", clauses)


def or_(*clauses: str | None) -> str:
    """Clauses joined with `or`, each parenthesised; empty clauses are skipped."""
    return _join("or", clauses)


def not_(clause: str) -> str:
    return f"not ({clause})"


def _join(op: str, clauses: Iterable[str | None]) -> str:
    present = [c for c in clauses if c]
    if len(present) == 1:
        return present[0]
    return f" {op} ".join(f"({c})" for c in present)


def any_of(name: str, values: Iterable[Literal]) -> str:
    """`name` equal to one of `values`, as `or`-ed `eq` (IFS has no `in`)."""
    clauses = [eq(name, v) for v in values]
    if not clauses:
        raise ValueError(f"any_of({name!r}) needs at least one value")
    return or_(*clauses)


def startswith(name: str, prefix: str) -> str:
    return f"startswith({field(name)},{literal(prefix)})"


def contains(name: str, text: str) -> str:
    return f"contains({field(name)},{literal(text)})"


def encode_value(text: str) -> str:
    """Percent-encode an option value: space, `&`, `#`, `+`, `%`, `$`, `=`,
    non-ASCII..., keeping quotes, parentheses, commas and colons readable."""
    return quote(text, safe=_QUERY_SAFE)


def query_string(
    *,
    filter: str | None = None,
    select: Sequence[str] | None = None,
    orderby: Sequence[str] | None = None,
    top: int | None = None,
    skip: int | None = None,
    extra: Mapping[str, str] | None = None,
) -> str:
    """`$filter=…&$select=…&$orderby=…&$top=…&$skip=…` (no leading `?`), with
    the `$` of option names left as is. `orderby` items may end in ` desc`."""
    parts: list[str] = []
    if filter:
        parts.append(f"$filter={encode_value(filter)}")
    if select:
        parts.append("$select=" + ",".join(field(s) for s in select))
    if orderby:
        parts.append("$orderby=" + ",".join(_order_item(o) for o in orderby))
    if top is not None:
        parts.append(f"$top={_count(top, '$top')}")
    if skip:
        parts.append(f"$skip={_count(skip, '$skip')}")
    for name, value in (extra or {}).items():
        parts.append(f"{quote(name, safe='$')}={encode_value(value)}")
    return "&".join(parts)


def _order_item(item: str) -> str:
    name, _, direction = item.strip().partition(" ")
    direction = direction.strip().lower()
    if direction not in ("", "asc", "desc"):
        raise ValueError(f"bad $orderby item {item!r}")
    return field(name) + (f"%20{direction}" if direction else "")


def _count(value: int, option: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{option} must be a non-negative integer, got {value!r}")
    return value


def key_predicate(keys: Mapping[str, Literal]) -> str:
    """`(OrderNo='X')` or `(Company='A',VoucherNo=12)`, percent-encoded for a URL path.

    Quotes in values are doubled; `)`, `/`, `?`, `#`, spaces and non-ASCII are
    percent-encoded so neither the URL nor the key syntax can break.
    """
    if not keys:
        raise ValueError("a key predicate needs at least one key")
    return "(" + ",".join(f"{field(k)}={_path_literal(v)}" for k, v in keys.items()) + ")"


def _path_literal(value: Literal) -> str:
    return quote(literal(value), safe="'-.:")


def entity_path(set_path: str, keys: Mapping[str, Literal]) -> str:
    """`Set(Key='…')` for one entity of `set_path`."""
    return f"{set_path.rstrip('/')}{key_predicate(keys)}"
