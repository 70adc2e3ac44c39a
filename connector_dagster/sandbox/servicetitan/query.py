"""Query strings of the ServiceTitan simulator: typed parameters, declarative
filters (`F`), `sort`, and the `{page, pageSize, hasMore, totalCount, data}` envelope."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from starlette.datastructures import QueryParams

from connector_dagster.sandbox.servicetitan.common import Row, bad_request, fits, parse_us

MAX_IDS = 50


# --- query parameters ---


def q_values(q: QueryParams, name: str) -> list[str]:
    """Repeated and comma-separated values of one parameter, blanks dropped."""
    return [v.strip() for raw in q.getlist(name) for v in raw.split(",") if v.strip()]


def q_int(q: QueryParams, name: str) -> int | None:
    raw = q.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise bad_request(name, f"The value '{raw}' is not valid.") from None


def q_dec(q: QueryParams, name: str) -> Decimal | None:
    raw = q.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = Decimal(raw)
    except ArithmeticError:
        value = None
    if value is None or not fits(value):
        raise bad_request(name, f"The value '{raw}' is not valid.")
    return value


def q_bool(q: QueryParams, name: str) -> bool:
    raw = (q.get(name) or "").lower()
    if raw in ("", "false"):
        return False
    if raw == "true":
        return True
    raise bad_request(name, f"The value '{q.get(name)}' is not valid.")


def q_us(q: QueryParams, name: str) -> int | None:
    raw = q.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse_us(raw)
    except ValueError:
        raise bad_request(name, f"The value '{raw}' is not a valid date-time.") from None


def q_ids(q: QueryParams, name: str = "ids", parse: Callable[[str], Any] = int) -> list | None:
    """An `ids`-style filter: at most 50 keys, repeated or comma-separated."""
    values = q_values(q, name)
    if not values:
        return None
    if len(values) > MAX_IDS:
        raise bad_request(name, f"Maximum {MAX_IDS} ids are allowed, got {len(values)}.")
    try:
        return [parse(v) for v in values]
    except ValueError:
        raise bad_request(name, f"'{q.get(name)}' is not a list of ids.") from None


def q_enum(q: QueryParams, name: str, allowed: Iterable[str]) -> list[str]:
    """Enum values (repeated or comma-separated), matched case-insensitively."""
    canon = {a.lower(): a for a in allowed}
    out = []
    for v in q_values(q, name):
        if v.lower() not in canon:
            raise bad_request(name, f"The value '{v}' is not valid. Values: {', '.join(allowed)}.")
        out.append(canon[v.lower()])
    return out


def q_active(q: QueryParams, name: str = "active") -> bool | None:
    """`active=True|Any|False`; only active rows by default. None means any."""
    values = q_enum(q, name, ("True", "Any", "False"))
    choice = values[0] if values else "True"
    return None if choice == "Any" else choice == "True"


# --- filters ---

Getter = Callable[[Row], Any]
Predicate = Callable[[Row], bool]


@dataclass(frozen=True)
class F:
    """One query filter: parameter, comparison, and how to read the row's value."""

    param: str
    op: str  # eq, eqi, anyi, in, contains, bool, since, before, until, dec>=, dec<=, enum, active
    get: Getter
    allowed: tuple[str, ...] = ()


STANDARD_SORTS: dict[str, Getter] = {
    "Id": lambda r: r["id"],
    "ModifiedOn": lambda r: r["modifiedOn"],
    "CreatedOn": lambda r: r["createdOn"],
}
"""`sort=±Field` keys most list endpoints accept."""

STANDARD_DATES = (
    F("createdOnOrAfter", "since", lambda r: r["createdOn"]),
    F("createdBefore", "before", lambda r: r["createdOn"]),
    F("modifiedOnOrAfter", "since", lambda r: r["modifiedOn"]),
    F("modifiedBefore", "before", lambda r: r["modifiedOn"]),
)
"""The created/modified date filters most list endpoints accept."""


def _predicate(q: QueryParams, f: F) -> Predicate | None:
    get = f.get
    if f.op in ("since", "before", "until"):
        bound = q_us(q, f.param)
        if bound is None:
            return None
        if f.op == "since":
            return lambda r: get(r) is not None and get(r) >= bound
        if f.op == "until":
            return lambda r: get(r) is not None and get(r) <= bound
        return lambda r: get(r) is not None and get(r) < bound
    if f.op in ("dec>=", "dec<="):
        bound_d = q_dec(q, f.param)
        if bound_d is None:
            return None
        return (lambda r: get(r) >= bound_d) if f.op == "dec>=" else (lambda r: get(r) <= bound_d)
    if f.op == "active":
        want = q_active(q, f.param)
        return None if want is None else (lambda r: get(r) is want)
    if f.op == "enum":
        wanted = set(q_enum(q, f.param, f.allowed))
        return (lambda r: get(r) in wanted) if wanted else None
    if f.op == "in":
        ints = q_ids(q, f.param)
        return None if ints is None else (lambda r: get(r) in set(ints))
    if f.op == "anyi":
        names = {v.lower() for v in q_values(q, f.param)}
        return (lambda r: str(get(r) or "").lower() in names) if names else None
    if f.op == "bool":
        if q.get(f.param) in (None, ""):
            return None
        flag = q_bool(q, f.param)
        return lambda r: bool(get(r)) is flag
    raw = q.get(f.param)
    if raw is None or raw == "":
        return None
    if f.op == "eq":
        want_i = q_int(q, f.param)
        return lambda r: get(r) == want_i
    if f.op == "eqi":
        return lambda r: (get(r) or "").lower() == raw.lower()
    if f.op == "contains":
        return lambda r: raw.lower() in (get(r) or "").lower()
    raise ValueError(f"unknown filter op {f.op}")


def select(
    table: Mapping[Any, Row],
    q: QueryParams,
    filters: Iterable[F],
    parse: Callable[[str], Any] = int,
) -> list[Row]:
    """Rows of `table` (in id order) matching every filter given in the query.
    `ids` (≤ 50, keys read with `parse`) are looked up instead of scanned."""
    ids = q_ids(q, parse=parse)
    rows: Iterable[Row] = (
        [table[i] for i in sorted(set(ids)) if i in table] if ids is not None else table.values()
    )
    preds = [p for p in (_predicate(q, f) for f in filters) if p is not None]
    if not preds:
        return list(rows)
    return [r for r in rows if all(p(r) for p in preds)]


def sort_rows(rows: list[Row], q: QueryParams, fields: Mapping[str, Getter]) -> list[Row]:
    """`sort=+Field|-Field` over the allowed fields (case-insensitive)."""
    raw = (q.get("sort") or "").strip()
    if not raw:
        return rows
    desc = raw.startswith("-")
    name = raw.lstrip("+- ").lower()
    keys = {k.lower(): g for k, g in fields.items()}
    if name not in keys:
        raise bad_request("sort", f"Cannot sort by '{raw}'. Available fields: {', '.join(fields)}.")
    get = keys[name]
    return sorted(rows, key=lambda r: (get(r) is None, get(r)), reverse=desc)


def page(rows: list[Row], q: QueryParams, render: Callable[[Row], Row], max_size: int) -> Row:
    """The `{page, pageSize, hasMore, totalCount, data}` envelope."""
    number = q_int(q, "page") or 1
    size = q_int(q, "pageSize") or 50
    if number < 1:
        raise bad_request("page", "Page must be 1 or more.")
    if size < 1:
        raise bad_request("pageSize", "Page size must be 1 or more.")
    size = min(size, max_size)
    start = (number - 1) * size
    chunk = rows[start : start + size]
    return {
        "page": number,
        "pageSize": size,
        "hasMore": start + size < len(rows),
        "totalCount": len(rows) if q_bool(q, "includeTotal") else None,
        "data": [render(r) for r in chunk],
    }
