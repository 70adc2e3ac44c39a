"""The ServiceTitan simulator's store (tables and change logs), its export feeds
(`from` / `continueFrom` / `includeRecentChanges`), and `Call`, the request a
resource handler sees."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import QueryParams

from connector_dagster.sandbox.servicetitan.common import (
    Row,
    bad_request,
    not_found,
    now_us,
    parse_us,
)
from connector_dagster.sandbox.servicetitan.query import q_bool

Getter = Callable[[Row], Any]
KEPT_RESULTS = 4
"""List results the store keeps (while no data changes) for the pages that follow."""
_PAGING = frozenset(("page", "pageSize", "includeTotal"))


class Store:
    """The simulator's tables (id → row) and one change log per exported table.

    Every change stamps the row with a new global version and appends
    (version, id) to the table's log; export feeds walk the log from a
    `continueFrom` version, skipping superseded entries."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[Any, Row]] = {}
        self.logs: dict[str, list[tuple[int, Any]]] = {}
        self.version = 0
        self.counters: dict[str, int] = {}
        self.changes = 0
        """Bumped by every change, and around every request that may change data (`app`):
        a list's result is kept for its next pages only while it stays the same."""
        self._results: dict[Any, tuple[int, list[Row]]] = {}

    def listed(self, name: str, q: QueryParams, compute: Callable[[], list[Row]]) -> list[Row]:
        """The filtered, sorted rows of a list request on table `name` (`compute()`),
        kept for the next pages of the same query while no data changes: a client
        paging through N rows then costs each page its own rows, not a scan of the
        table and a sort of all N."""
        key = (name, tuple(sorted((k, v) for k, v in q.multi_items() if k not in _PAGING)))
        kept = self._results.get(key)
        if kept is not None and kept[0] == self.changes:
            return kept[1]
        rows = compute()
        self._results = {k: r for k, r in self._results.items() if r[0] == self.changes}
        while len(self._results) >= KEPT_RESULTS:
            del self._results[next(iter(self._results))]
        self._results[key] = (self.changes, rows)
        return rows

    def snapshot(self) -> dict[str, Any]:
        """Tables, change logs, version and id counters, for the state file. Live
        objects: encode them before the next request changes them."""
        return {
            "tables": self.tables,
            "logs": self.logs,
            "version": self.version,
            "counters": self.counters,
        }

    @classmethod
    def restore(cls, saved: dict[str, Any]) -> Store:
        """A store holding what `snapshot` gave (read back from the state file)."""
        store = cls()
        store.tables = {str(name): dict(rows) for name, rows in saved["tables"].items()}
        logs = saved["logs"].items()
        store.logs = {str(name): [(int(v), key) for v, key in log] for name, log in logs}
        store.version = int(saved["version"])
        store.counters = {str(name): int(n) for name, n in saved["counters"].items()}
        return store

    def table(self, name: str) -> dict[Any, Row]:
        return self.tables.setdefault(name, {})

    def next_id(self, name: str) -> int:
        self.counters[name] += 1
        return self.counters[name]

    def load(self, name: str, rows: Iterable[Row], logged: bool = True) -> None:
        """Seed rows: stored by id; versions follow modifiedOn order."""
        self.changes += 1
        table = self.table(name)
        for row in rows:
            table[row["id"]] = row
        if logged:
            log = self.logs.setdefault(name, [])
            for row in sorted(table.values(), key=lambda r: (r["modifiedOn"], r["id"])):
                self.version += 1
                row["_v"] = self.version
                log.append((self.version, row["id"]))

    def touch(self, name: str, row: Row) -> None:
        """Record a change (or an insert) of `row` in table `name`, now."""
        self.changes += 1
        row["modifiedOn"] = now_us()
        self.table(name)[row["id"]] = row
        if name in self.logs:
            self.version += 1
            row["_v"] = self.version
            self.logs[name].append((self.version, row["id"]))


def _token(version: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{version}".encode()).decode().rstrip("=")


def _version_of(token: str) -> int | None:
    """The version a `continueFrom` token stands for; None for anything else (a
    date, or text that is not base64, such as non-ASCII letters)."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except ValueError:  # binascii.Error, UnicodeDecodeError, or non-ASCII input
        return None
    prefix, _, version = text.partition(":")
    return int(version) if prefix == "v1" and version.isdigit() else None


def export(
    store: Store, name: str, q: QueryParams, batch: int, weight: Getter | None = None
) -> Row:
    """One call of an export feed: `{hasMore, continueFrom, data}` of raw rows.

    `from` is absent (start), a date (rows modified on or after it), or a
    `continueFrom` token. With `includeRecentChanges=true` the last row of a
    caught-up batch is repeated by the next call. `weight` counts a row's
    size against `batch` (e.g. its number of items)."""
    log = store.logs[name]
    table = store.tables[name]
    raw = (q.get("from") or "").strip()
    after, since = 0, None
    if raw:
        version = _version_of(raw)
        if version is not None:
            after = version
        else:
            try:
                since = parse_us(raw)
            except ValueError:
                raise bad_request(
                    "from", f"'{raw}' is neither a date nor a continuation token."
                ) from None
    recent = q_bool(q, "includeRecentChanges")
    rows: list[Row] = []
    size, last, more = 0, after, False
    for version, key in log[_bisect_after(log, after) :]:
        row = table.get(key)
        if row is None or row["_v"] != version or (since is not None and row["modifiedOn"] < since):
            last = version  # superseded or before `from`: passed over
            continue
        if size >= batch:
            more = True
            break
        rows.append(row)
        size += weight(row) if weight else 1
        last = version
    if recent and not more and rows:
        last = rows[-1]["_v"] - 1  # the next call repeats the latest row
    return {"hasMore": more, "continueFrom": _token(last), "data": rows}


def _bisect_after(log: list[tuple[int, Any]], version: int) -> int:
    lo, hi = 0, len(log)
    while lo < hi:
        mid = (lo + hi) // 2
        if log[mid][0] <= version:
            lo = mid + 1
        else:
            hi = mid
    return lo


@dataclass
class Call:
    """One API request as a handler sees it."""

    store: Store
    q: QueryParams
    body: Any
    path: dict[str, str]
    page_max: int
    closed_periods: tuple[str, ...] = ()

    def path_int(self, name: str, what: str) -> int:
        raw = self.path[name]
        if not raw.isdigit():
            raise not_found(what)
        return int(raw)


NO_CONTENT = object()
"""A handler's answer for `200` without a body."""


@dataclass(frozen=True)
class Created:
    """A handler's answer for `201 Created` with `body`."""

    body: Any
