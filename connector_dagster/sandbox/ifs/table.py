"""One entity set's rows in the IFS simulator: by key, with lookup indexes (by value,
and sorted for the fields filtered by range), and an undo journal for transactions."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from itertools import product
from typing import Any

from connector_dagster.sandbox.ifs.schema import EntitySet, Row

Journal = list[tuple["Table", tuple[Any, ...], Row | None]]
"""(table, key, the row that key held before) per change, oldest first."""
Range = tuple[Any, bool, Any, bool]
"""(low, low inclusive, high, high inclusive); None: unbounded."""

KEPT_RESULTS = 4
"""Sorted query results a table keeps (until it changes) for the pages that follow."""
MAX_KEY_PRODUCT = 10_000
"""Full keys a filter may name (one value set per key field) for a look-up by key."""


class Table:
    """The rows of one entity set, by key, with lookup indexes. While `journal` is
    set, every change records the row it replaced, so it can be undone. `generation`
    counts changes, so that a query's result can be kept between its pages."""

    def __init__(self, eset: EntitySet, rows: Iterable[Row]) -> None:
        self.eset = eset
        self.rows: dict[tuple[Any, ...], Row] = {}
        self.indexes: dict[str, dict[Any, dict[tuple[Any, ...], None]]] = {
            f: {} for f in eset.indexed
        }
        self._positions = [(f, eset.index[f]) for f in eset.indexed]
        # Sorted (value, key) pairs per ranged field; rows whose value is null are left
        # out, as no range holds null.
        self.sorted: dict[str, list[tuple[Any, tuple[Any, ...]]]] = {f: [] for f in eset.ranged}
        self._ranged = [(f, eset.index[f]) for f in eset.ranged]
        self.journal: Journal | None = None
        self.generation = 0
        self._results: dict[Any, tuple[int, list[Row]]] = {}
        ranged, self._ranged = self._ranged, []
        for row in rows:
            self.put(row)
        self._ranged = ranged
        for field, i in ranged:  # sorted once, not kept sorted row by row
            entries = [(row[i], key) for key, row in self.rows.items() if row[i] is not None]
            entries.sort()
            self.sorted[field] = entries

    def put(self, row: Row, old: Row | None = None) -> None:
        key = self.eset.key_of(row)
        previous = self.rows.get(key)
        if self.journal is not None:
            self.journal.append((self, key, previous))
        old = previous if old is None else old
        for field, i in self._positions:
            if old is not None and old[i] != row[i]:
                del self.indexes[field][old[i]][key]
            self.indexes[field].setdefault(row[i], {})[key] = None
        for field, i in self._ranged:
            if old is not None and old[i] == row[i]:
                continue
            entries = self.sorted[field]
            if old is not None and old[i] is not None:
                del entries[bisect.bisect_left(entries, (old[i], key))]
            if row[i] is not None:
                bisect.insort(entries, (row[i], key))
        self.rows[key] = row
        self.generation += 1

    def remove(self, key: tuple[Any, ...]) -> None:
        row = self.rows.pop(key)
        if self.journal is not None:
            self.journal.append((self, key, row))
        for field, i in self._positions:
            del self.indexes[field][row[i]][key]
        for field, i in self._ranged:
            if row[i] is not None:
                entries = self.sorted[field]
                del entries[bisect.bisect_left(entries, (row[i], key))]
        self.generation += 1

    def restore(self, key: tuple[Any, ...], previous: Row | None) -> None:
        """Undo one change: `previous` (None: no row) is under `key` again."""
        journal, self.journal = self.journal, None
        current = self.rows.get(key)
        if previous is None:
            if current is not None:
                self.remove(key)
        else:
            self.put(previous, current)
        self.journal = journal

    def candidates(
        self,
        equalities: Mapping[str, Any],
        any_of: Mapping[str, frozenset[Any]] | None = None,
        ranges: Mapping[str, Range] | None = None,
    ) -> Iterable[Row]:
        """Rows that may satisfy a filter requiring `equalities` (field -> value), a value
        among `any_of` (field -> values) and `ranges` (field -> bounds): by key, by
        index or by range, whichever names the fewest rows; all rows if none applies.
        The cost is that of the rows named, whatever the table's size."""
        sets: dict[str, frozenset[Any] | set[Any]] = dict(any_of or {})
        for name, value in equalities.items():
            if name not in sets:
                try:
                    sets[name] = frozenset((value,))
                except TypeError:
                    continue
        keys = self.eset.keys
        if all(k in sets for k in keys):
            count = 1
            for k in keys:
                count *= len(sets[k])
            if count <= MAX_KEY_PRODUCT:
                rows = self.rows
                found = sorted(k for k in product(*(sets[k] for k in keys)) if k in rows)
                return [rows[k] for k in found]
        best: tuple[int, Any] | None = None
        for field in self.eset.indexed:
            if field in sets:
                index = self.indexes[field]
                buckets = [index[v] for v in sets[field] if v in index]
                size = sum(len(b) for b in buckets)
                if best is None or size < best[0]:
                    best = (size, ("index", buckets))
        for field, bounds in (ranges or {}).items():
            if field in self.sorted:
                try:
                    lo, hi = self._span(field, bounds)
                except TypeError:
                    continue  # a bound that does not compare with the stored values
                if best is None or hi - lo < best[0]:
                    best = (hi - lo, ("range", (field, lo, hi)))
        if best is None:
            return self.rows.values()
        kind, how = best[1]
        # Several buckets or a range: in key order, a stable order for a query without
        # $orderby (one bucket keeps the order its rows were stored in).
        if kind == "index":
            if len(how) == 1:
                return [self.rows[k] for k in how[0]]
            found = sorted(k for bucket in how for k in bucket)
        else:
            field, lo, hi = how
            found = sorted(k for _, k in self.sorted[field][lo:hi])
        return [self.rows[k] for k in found]

    def kept(self, query: Any) -> list[Row] | None:
        """The result kept for `query` (a hashable description of it), if the table has
        not changed since."""
        kept = self._results.get(query)
        if kept is None or kept[0] != self.generation:
            return None
        return kept[1]

    def keep(self, query: Any, rows: list[Row]) -> None:
        """Keep a query's whole (sorted) result for its next pages: a client paging
        through N rows then costs each page its own rows, not a sort of all N."""
        self._results = {q: r for q, r in self._results.items() if r[0] == self.generation}
        while len(self._results) >= KEPT_RESULTS:
            del self._results[next(iter(self._results))]
        self._results[query] = (self.generation, rows)

    def _span(self, field: str, bounds: Range) -> tuple[int, int]:
        """Positions [lo, hi) in the sorted index of the values within `bounds`."""
        entries = self.sorted[field]
        low, low_in, high, high_in = bounds
        lo, hi = 0, len(entries)
        if low is not None:
            find = bisect.bisect_left if low_in else bisect.bisect_right
            lo = find(entries, low, key=_value)
        if high is not None:
            find = bisect.bisect_right if high_in else bisect.bisect_left
            hi = find(entries, high, key=_value)
        return lo, max(lo, hi)


def _value(entry: tuple[Any, tuple[Any, ...]]) -> Any:
    return entry[0]
