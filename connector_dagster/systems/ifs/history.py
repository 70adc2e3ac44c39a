"""IFS's History Log read as a change feed (IFS has no webhooks): the keys of the
records logged after a LogId cursor, and the dates those records fall on."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from connector_dagster.systems.ifs import odata
from connector_dagster.systems.ifs.client import IfsClient


@dataclass(frozen=True)
class Logged:
    """The keys the log names after a cursor, the cursor to go on from, the requests made."""

    keys: list[Any]
    cursor: str
    requests: int = 1


def logged_keys(
    ifs: IfsClient,
    history_set: str,
    lu_names: Sequence[str],
    key_column: str,
    cursor: str | None,
    page: int,
    convert: Callable[[str], Any] = str,
) -> Logged:
    """The `key_column` values (e.g. `ORDER_NO`, converted by `convert`) of the log rows
    of `lu_names` after LogId `cursor`, at most `page` rows, sorted. With no cursor:
    none, and the newest LogId, so that changes are followed from now on. One request."""
    logged = odata.any_of("LuName", lu_names)
    if cursor is None:
        last = next(
            ifs.query(history_set, filter=logged, select=["LogId"], orderby=["LogId desc"],
                      top=1, keys=("LogId",)),
            None,
        )  # fmt: skip
        return Logged([], str(last["LogId"] if last else 0))
    rows = list(
        ifs.query(
            history_set,
            filter=odata.and_(logged, odata.gt("LogId", int(cursor))),
            select=["LogId", "Keys"],
            orderby=["LogId"],
            top=page,
            keys=("LogId",),
        )
    )
    if not rows:
        return Logged([], cursor)
    pattern = _key_pattern(key_column)
    keys = {convert(m.group(1)) for r in rows if (m := pattern.search(str(r.get("Keys") or "")))}
    return Logged(sorted(keys), str(rows[-1]["LogId"]))


def newest_time(ifs: IfsClient, history_set: str, lu_names: Sequence[str]) -> datetime | None:
    """The TimeStamp of the newest log row of `lu_names` (IFS's clock), None if the log
    has none. One request."""
    last = next(
        ifs.query(history_set, filter=odata.any_of("LuName", lu_names),
                  select=["LogId", "TimeStamp"], orderby=["LogId desc"], top=1,
                  keys=("LogId",)),
        None,
    )  # fmt: skip
    return None if last is None or last.get("TimeStamp") is None else _time(last["TimeStamp"])


def logged_since(
    ifs: IfsClient,
    history_set: str,
    lu_names: Sequence[str],
    key_column: str,
    since: datetime,
    most: int,
    convert: Callable[[str], Any] = str,
) -> set[Any] | None:
    """The `key_column` values of the log rows of `lu_names` dated `since` or later, or
    None if there are more than `most` such rows (reading them would cost more than it
    saves). Rows are paged as the client pages."""
    pattern = _key_pattern(key_column)
    keys: set[Any] = set()
    for n, row in enumerate(
        ifs.query(
            history_set,
            filter=odata.and_(odata.any_of("LuName", lu_names), odata.ge("TimeStamp", since)),
            select=["LogId", "Keys"],
            orderby=["LogId"],
            top=most + 1,
            keys=("LogId",),
        )
    ):
        if n >= most:
            return None
        if m := pattern.search(str(row.get("Keys") or "")):
            keys.add(convert(m.group(1)))
    return keys


def _key_pattern(key_column: str) -> re.Pattern[str]:
    return re.compile(rf"(?:^|\^){re.escape(key_column)}=([^^]*)\^")


def _time(value: Any) -> datetime:
    """A DateTimeOffset as IFS sends it (`...Z` or an offset) as an aware datetime."""
    if isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def dates_of(
    ifs: IfsClient,
    entity_set: str,
    company: str,
    key_field: str,
    keys: Sequence[Any],
    date_field: str,
    entity_keys: Sequence[str],
) -> tuple[list[date], int]:
    """The `date_field` of the company's records whose `key_field` is in `keys` (one
    date per record found; a record deleted since it was logged is not), and the
    requests made: as many keys per request as keep its URL within the client's limit."""
    company_is = odata.eq("Company", company)
    dates: list[date] = []
    requests = 0
    for chunk in ifs.chunks(
        entity_set, keys, lambda key: odata.eq(key_field, key), filter=company_is,
        select=[key_field, date_field], orderby=[key_field],
    ):  # fmt: skip
        requests += 1
        for row in ifs.query(
            entity_set,
            filter=odata.and_(company_is, odata.any_of(key_field, chunk)),
            select=[key_field, date_field],
            orderby=[key_field],
            keys=tuple(entity_keys),
        ):
            dates.append(date.fromisoformat(str(row[date_field])[:10]))
    return dates, requests
