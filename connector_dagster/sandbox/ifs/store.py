"""The IFS simulator's in-memory store: rows by key, lookup indexes, the History Log,
closed periods and all-or-nothing transactions.

Rows are tuples positioned like their set's properties (`schema`). Writes
behave as IFS's: a new Objversion (so a new ETag) on every change, keyref,
mandatory fields, parent rows and key uniqueness here, the business rules of
`rules` for API writes, and a History Log row for every insert, update and
delete (`history`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from connector_dagster.sandbox.ifs import rules
from connector_dagster.sandbox.ifs.history import HistoryLog, objversion_time, seeded_log
from connector_dagster.sandbox.ifs.odata import STRING, ODataError, from_json
from connector_dagster.sandbox.ifs.rules import Values, Writer, database_error
from connector_dagster.sandbox.ifs.schema import (
    ACCOUNTS,
    HISTORY_LOG,
    META,
    READ_ONLY,
    SETS,
    EntitySet,
    Row,
    column,
    etag,
    next_objversion,
    rowid,
)
from connector_dagster.sandbox.ifs.table import Journal, Table


def _not_found() -> ODataError:
    return ODataError(404, "ODP_RESOURCE_NOTFOUND", "Resource not found.")


class IfsStore:
    """All entity sets of one simulated IFS tenant, reset to the seed on demand."""

    def __init__(
        self, seeder: Callable[[], dict[str, list[Row]]], saved: dict[str, Any] | None = None
    ) -> None:
        """The rows `seeder` makes, or those of `saved` (a `snapshot`): then the seed is
        made only when a reset asks for it."""
        self._seeder = seeder
        self._initial: dict[str, list[Row]] | None = None
        if saved is None:
            self.reset()
        else:
            self._restore(saved)

    def _seed(self) -> tuple[dict[str, list[Row]], dict[str, Table] | None]:
        """The seeded rows, and the first time tables holding them (built once: at a
        large seed, two sets of tables at once would double the sandbox's peak memory)."""
        if self._initial is not None:
            return self._initial, None
        initial = self._seeder()
        tables = {name: Table(SETS[name], initial.get(name, ())) for name in SETS}
        log = seeded_log(tables, rules.IFS_USER)
        self._initial = {**initial, HISTORY_LOG.name: log}
        tables[HISTORY_LOG.name] = Table(HISTORY_LOG, log)
        return self._initial, tables

    def reset(self) -> None:
        """Back to the seed: seeded rows and their History Log, every period open."""
        initial, tables = self._seed()
        self.tables = tables or {name: Table(SETS[name], initial.get(name, ())) for name in SETS}
        self._rowids = {name: len(t.rows) + 1 for name, t in self.tables.items()}
        self._sequences: dict[str, int] = {}
        self.closed_periods: set[tuple[str, str]] = set()  # (company, YYYY-MM)
        self.history = HistoryLog(self.tables[HISTORY_LOG.name])
        self._in_transaction = False

    def snapshot(self) -> dict[str, Any]:
        """What a client can observe, for the state file: every row (the History Log's
        too), the next row ids and numbers, the closed periods. Rows are immutable."""
        return {
            "properties": {name: list(eset.names) for name, eset in SETS.items()},
            "rows": {name: list(t.rows.values()) for name, t in self.tables.items()},
            "rowids": dict(self._rowids),
            "sequences": dict(self._sequences),
            "closed_periods": sorted(self.closed_periods),
            "next_log_id": self.history.next_id,
        }

    def _restore(self, saved: dict[str, Any]) -> None:
        if saved["properties"] != {name: list(eset.names) for name, eset in SETS.items()}:
            raise ValueError("the IFS entity sets have other properties than when it was saved")
        self.tables = {name: Table(SETS[name], saved["rows"][name]) for name in SETS}
        self._rowids = {name: int(saved["rowids"][name]) for name in SETS}
        self._sequences = {name: int(n) for name, n in saved["sequences"].items()}
        self.closed_periods = {(str(c), str(p)) for c, p in saved["closed_periods"]}
        self.history = HistoryLog(self.tables[HISTORY_LOG.name])
        self.history.next_id = int(saved["next_log_id"])
        self._in_transaction = False

    def counts(self) -> dict[str, int]:
        return {name: len(t.rows) for name, t in self.tables.items()}

    def get(self, eset: EntitySet, key: tuple[Any, ...]) -> Row | None:
        return self.tables[eset.name].rows.get(key)

    def values(self, eset: EntitySet, row: Row) -> Values:
        return dict(zip(eset.names, row, strict=True))

    def etag(self, eset: EntitySet, row: Row) -> str:
        return etag(row[eset.index["Objid"]], row[eset.index["Objversion"]])

    def children(self, child: EntitySet, parent_key: dict[str, Any]) -> Iterator[Row]:
        """The rows of `child` whose parent keys are `parent_key`."""
        positions = [(child.index[k], v) for k, v in parent_key.items()]
        for row in self.tables[child.name].candidates(parent_key):
            if all(row[i] == v for i, v in positions):
                yield row

    def is_closed(self, company: str | None, period: str, closed_everywhere: Iterable[str]) -> bool:
        return period in set(closed_everywhere) or (company or "", period) in self.closed_periods

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Every write inside, or none: an exception undoes all of them, then propagates.

        Callers run no `await` that can suspend inside, so no other request's
        writes interleave with a transaction's."""
        if self._in_transaction:
            raise RuntimeError("IFS simulator transactions do not nest")
        journal: Journal = []
        saved = (dict(self._rowids), dict(self._sequences), self.history.next_id)
        self._in_transaction = True
        for table in self.tables.values():
            table.journal = journal
        try:
            yield
        except BaseException:
            for table, key, previous in reversed(journal):
                table.restore(key, previous)
            self._rowids, self._sequences, self.history.next_id = saved
            raise
        finally:
            self._in_transaction = False
            for table in self.tables.values():
                table.journal = None

    # -- writes ---------------------------------------------------------------------------------

    def create(
        self, eset: EntitySet, body: dict[str, Any], writer: Writer, closed: Iterable[str] = ()
    ) -> Row:
        """Insert a row; `closed` are periods closed for every company (fault profile)."""
        values = self._convert(eset, body, None, writer.as_user)
        rules.check_insert_keys(eset, values, writer)
        parent = self._parent(eset, values)
        rules.fill(eset, values, parent)
        table = self.tables[eset.name]
        if eset.auto_key and values.get(eset.auto_key) is None:
            values[eset.auto_key] = self._next_key(eset, values)
        for name in (*eset.keys, *eset.required):
            if values.get(name) is None:
                raise rules.not_null(eset, name)
        key = tuple(values[k] for k in eset.keys)
        if key in table.rows:
            raise database_error(
                f"ORA-20112: {eset.luname}.EXIST: The {eset.luname} object already exists "
                f"({eset.keyref(key)})."
            )
        if not writer.as_user:
            rules.check_unlocked(eset, values, parent, writer)
            rules.check(
                eset, values, parent, lambda c, p: self.is_closed(c, p, closed), self.blocked
            )
        rules.derive(eset, values, body, creating=True)
        state = eset.index.get("Objstate")
        if state is not None and values.get("Objstate") is None:
            values["Objstate"] = eset.properties[state].members[0]
        objversion = next_objversion(None)
        values["Objversion"] = objversion
        values["Objkey"] = uuid.uuid4().hex.upper()
        if "DateEntered" in eset.index and values.get("DateEntered") is None:
            values["DateEntered"] = f"{objversion[:4]}-{objversion[4:6]}-{objversion[6:8]}"
        if "ChangeDate" in eset.index:
            values["ChangeDate"] = objversion_time(objversion)
        row = eset.make_row(values, rowid(eset.name, self._rowids[eset.name]))
        self._rowids[eset.name] += 1
        table.put(row)
        self.history.record(eset, key, "Insert", objversion, writer.user)
        return row

    def update(
        self,
        eset: EntitySet,
        key: tuple[Any, ...],
        body: dict[str, Any],
        writer: Writer,
        closed: Iterable[str] = (),
    ) -> Row:
        old = self.get(eset, key)
        if old is None:
            raise _not_found()
        values = self.values(eset, old)
        values.update(self._convert(eset, body, old, writer.as_user))
        if not writer.as_user:
            parent = self._parent(eset, values)
            rules.check_unlocked(eset, self.values(eset, old), parent, writer)
            rules.check(
                eset, values, parent, lambda c, p: self.is_closed(c, p, closed), self.blocked
            )
        rules.derive(eset, values, body, creating=False)
        return self._bump(eset, values, old, writer.user)

    def blocked(self, company: str | None, account: str) -> bool:
        """Whether an IFS user blocked the company's account (no postings to it)."""
        row = self.get(ACCOUNTS, (company, account))
        return row is not None and self.values(ACCOUNTS, row).get("Objstate") == "Blocked"

    def touch(self, eset: EntitySet, key: tuple[Any, ...], user: str = rules.IFS_USER) -> Row:
        """What a concurrent edit by an IFS user leaves behind: a new Objversion."""
        old = self.tables[eset.name].rows[key]
        return self._bump(eset, self.values(eset, old), old, user)

    def delete(self, eset: EntitySet, key: tuple[Any, ...], writer: Writer) -> None:
        """Remove a row and its child rows (children first, each in the History Log)."""
        row = self.get(eset, key)
        if row is None:
            raise _not_found()
        values = self.values(eset, row)
        if not writer.as_user:
            rules.check_unlocked(eset, values, self._parent(eset, values), writer)
        objversion = next_objversion(None)
        parent_key = dict(zip(eset.keys, key, strict=True))
        for child in SETS.values():
            if child.parent == eset.name:
                for child_row in list(self.children(child, parent_key)):
                    child_key = child.key_of(child_row)
                    self.tables[child.name].remove(child_key)
                    self.history.record(child, child_key, "Delete", objversion, writer.user)
        self.tables[eset.name].remove(key)
        self.history.record(eset, key, "Delete", objversion, writer.user)

    def _bump(self, eset: EntitySet, values: Values, old: Row, user: str) -> Row:
        values["Objversion"] = next_objversion(values["Objversion"])
        if "ChangeDate" in eset.index:
            values["ChangeDate"] = objversion_time(values["Objversion"])
        row = tuple(map(values.get, eset.names))
        self.tables[eset.name].put(row, old)
        self.history.record(eset, eset.key_of(row), "Update", values["Objversion"], user)
        return row

    def _parent(self, eset: EntitySet, values: Values) -> Values | None:
        """The values of the row's parent; a DATABASE_ERROR if it has none."""
        if eset.parent is None:
            return None
        parent = SETS[eset.parent]
        key = tuple(values.get(k) for k in parent.keys)
        row = self.get(parent, key)
        if row is None:
            raise database_error(
                f"ORA-20111: {parent.luname}.NOTEXIST: The {parent.luname} "
                f"{parent.keyref(key)} does not exist."
            )
        return self.values(parent, row)

    def _convert(
        self, eset: EntitySet, body: dict[str, Any], old: Row | None, as_user: bool
    ) -> Values:
        values: Values = {}
        for name, raw in body.items():
            if name.startswith("@"):
                continue
            i = eset.index.get(name)
            if i is None:
                raise _deserialization(
                    f"The property '{name}' does not exist in type '{eset.entity}'."
                )
            try:
                value = from_json(eset.properties[i], raw)
            except ValueError as exc:
                raise _deserialization(f"Invalid value for property '{name}': {exc}") from None
            locked = name in META or (not as_user and name in READ_ONLY)
            if old is not None and name in eset.keys:
                locked = True
            if locked:
                if (value is None and old is None) or (old is not None and value == old[i]):
                    continue
                verb = "insertable" if old is None else "updatable"
                raise database_error(
                    f"ORA-20124: {eset.luname}.UPDATE: Field [{column(name)}] is not {verb}."
                )
            values[name] = value
        return values

    def _next_key(self, eset: EntitySet, values: Values) -> Any:
        """The next free number: per parent for row numbers, per set for header ids."""
        assert eset.auto_key is not None
        i = eset.index[eset.auto_key]
        as_string = eset.properties[i].type == STRING
        if eset.parent:
            parent = SETS[eset.parent]
            rows = self.children(eset, {k: values.get(k) for k in parent.keys})
            number = max((int(r[i]) for r in rows if str(r[i]).isdigit()), default=0) + 1
        else:
            if eset.name not in self._sequences:
                rows = self.tables[eset.name].rows.values()
                taken = max((int(r[i]) for r in rows if str(r[i]).isdigit()), default=0)
                self._sequences[eset.name] = max(taken, eset.auto_start - 1)
            table, number = self.tables[eset.name], self._sequences[eset.name] + 1
            while self._key_with(eset, values, str(number) if as_string else number) in table.rows:
                number += 1
            self._sequences[eset.name] = number
        return str(number) if as_string else number

    @staticmethod
    def _key_with(eset: EntitySet, values: Values, auto: Any) -> tuple[Any, ...]:
        return tuple(auto if k == eset.auto_key else values.get(k) for k in eset.keys)


def _deserialization(detail: str) -> ODataError:
    return ODataError(
        400,
        "ODP_DESERIALIZATION_ERROR",
        "Error while de-serializing contents.",
        [{"code": "ODP_DESERIALIZATION_ERROR", "message": detail}],
    )
