"""One entity set's rows in the IFS simulator: by key, with lookup indexes, and an
undo journal for transactions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from connector_dagster.sandbox.ifs.schema import EntitySet, Row

Journal = list[tuple["Table", tuple[Any, ...], Row | None]]
"""(table, key, the row that key held before) per change, oldest first."""


class Table:
    """The rows of one entity set, by key, with lookup indexes. While `journal` is
    set, every change records the row it replaced, so it can be undone."""

    def __init__(self, eset: EntitySet, rows: Iterable[Row]) -> None:
        self.eset = eset
        self.rows: dict[tuple[Any, ...], Row] = {}
        self.indexes: dict[str, dict[Any, dict[tuple[Any, ...], None]]] = {
            f: {} for f in eset.indexed
        }
        self._positions = [(f, eset.index[f]) for f in eset.indexed]
        self.journal: Journal | None = None
        for row in rows:
            self.put(row)

    def put(self, row: Row, old: Row | None = None) -> None:
        key = self.eset.key_of(row)
        if self.journal is not None:
            self.journal.append((self, key, self.rows.get(key)))
        for field, i in self._positions:
            if old is not None and old[i] != row[i]:
                del self.indexes[field][old[i]][key]
            self.indexes[field].setdefault(row[i], {})[key] = None
        self.rows[key] = row

    def remove(self, key: tuple[Any, ...]) -> None:
        row = self.rows.pop(key)
        if self.journal is not None:
            self.journal.append((self, key, row))
        for field, i in self._positions:
            del self.indexes[field][row[i]][key]

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

    def candidates(self, equalities: dict[str, Any]) -> Iterable[Row]:
        """Rows that may satisfy `equalities` (field -> value), by key or index if possible."""
        keys = self.eset.keys
        if all(k in equalities for k in keys):
            row = self.rows.get(tuple(equalities[k] for k in keys))
            return () if row is None else (row,)
        for field in self.eset.indexed:
            if field in equalities:
                bucket = self.indexes[field].get(equalities[field], {})
                return [self.rows[k] for k in bucket]
        return self.rows.values()
