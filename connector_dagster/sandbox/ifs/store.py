"""The IFS simulator's in-memory store: rows by key, lookup indexes, IFS write rules.

Rows are tuples positioned like their set's properties (`schema`). Writes
behave as IFS's: a new Objversion (so a new ETag) on every change, keyref,
mandatory fields, parent rows, code-string checks and closed accounting
periods, with IFS-style `DATABASE_ERROR`s.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from connector_dagster.sandbox import world
from connector_dagster.sandbox.ifs.odata import STRING, ODataError, from_json
from connector_dagster.sandbox.ifs.schema import (
    META,
    OBJVERSION_FORMAT,
    READ_ONLY,
    SETS,
    EntitySet,
    Row,
    column,
    etag,
    next_objversion,
    rowid,
)


def _error(status: int, code: str, message: str) -> ODataError:
    return ODataError(status, code, message, [{"code": code, "message": message}])


def _not_found() -> ODataError:
    return ODataError(404, "ODP_RESOURCE_NOTFOUND", "Resource not found.")


_ACCOUNTS = frozenset(a.ifs_account for a in world.GL_ACCOUNTS)
_COST_CENTRES = frozenset(r.cost_centre for r in world.REGIONS)


class Table:
    """The rows of one entity set, by key, with lookup indexes."""

    def __init__(self, eset: EntitySet, rows: Iterable[Row]) -> None:
        self.eset = eset
        self.rows: dict[tuple[Any, ...], Row] = {}
        self.indexes: dict[str, dict[Any, dict[tuple[Any, ...], None]]] = {
            f: {} for f in eset.indexed
        }
        self._positions = [(f, eset.index[f]) for f in eset.indexed]
        for row in rows:
            self.put(row)

    def put(self, row: Row, old: Row | None = None) -> None:
        key = self.eset.key_of(row)
        for field, i in self._positions:
            if old is not None and old[i] != row[i]:
                del self.indexes[field][old[i]][key]
            self.indexes[field].setdefault(row[i], {})[key] = None
        self.rows[key] = row

    def remove(self, key: tuple[Any, ...]) -> None:
        row = self.rows.pop(key)
        for field, i in self._positions:
            del self.indexes[field][row[i]][key]

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


class IfsStore:
    """All entity sets of one simulated IFS tenant, reset to the seed on demand."""

    def __init__(self, initial: dict[str, list[Row]]) -> None:
        self._initial = initial
        self.reset()

    def reset(self) -> None:
        self.tables = {name: Table(SETS[name], self._initial.get(name, ())) for name in SETS}
        self._rowids = {name: len(t.rows) + 1 for name, t in self.tables.items()}
        self._sequences: dict[str, int] = {}

    def counts(self) -> dict[str, int]:
        return {name: len(t.rows) for name, t in self.tables.items()}

    def get(self, eset: EntitySet, key: tuple[Any, ...]) -> Row | None:
        return self.tables[eset.name].rows.get(key)

    def etag(self, eset: EntitySet, row: Row) -> str:
        return etag(row[eset.index["Objid"]], row[eset.index["Objversion"]])

    def create(
        self,
        eset: EntitySet,
        body: dict[str, Any],
        closed: Iterable[str] = (),
        as_user: bool = False,
    ) -> Row:
        values = self._convert(eset, body, None, as_user)
        table = self.tables[eset.name]
        if eset.auto_key and values.get(eset.auto_key) is None:
            values[eset.auto_key] = self._next_key(eset, values)
        for name in (*eset.keys, *eset.required):
            if values.get(name) is None:
                raise _error(
                    400, "DATABASE_ERROR",
                    f"ORA-20110: {eset.luname}.NULLVALUE: Field [{column(name)}] is mandatory for "
                    f"{eset.luname} and requires a value.",
                )  # fmt: skip
        key = tuple(values[k] for k in eset.keys)
        if key in table.rows:
            raise _error(
                400, "DATABASE_ERROR",
                f"ORA-20112: {eset.luname}.EXIST: The {eset.luname} object already exists "
                f"({eset.keyref(key)}).",
            )  # fmt: skip
        self._check_rules(eset, values, closed)
        state = eset.index.get("Objstate")
        if state is not None and values.get("Objstate") is None:
            values["Objstate"] = eset.properties[state].members[0]
        objversion = next_objversion(None)
        values["Objversion"] = objversion
        values["Objkey"] = uuid.uuid4().hex.upper()
        if "DateEntered" in eset.index and values.get("DateEntered") is None:
            values["DateEntered"] = objversion[:4] + "-" + objversion[4:6] + "-" + objversion[6:8]
        if "ChangeDate" in eset.index:
            values["ChangeDate"] = _objversion_time(objversion)
        row = eset.make_row(values, rowid(eset.name, self._rowids[eset.name]))
        self._rowids[eset.name] += 1
        table.put(row)
        return row

    def update(
        self,
        eset: EntitySet,
        key: tuple[Any, ...],
        body: dict[str, Any],
        closed: Iterable[str] = (),
        as_user: bool = False,
    ) -> Row:
        table = self.tables[eset.name]
        old = table.rows.get(key)
        if old is None:
            raise _not_found()
        values = dict(zip(eset.names, old, strict=True))
        values.update(self._convert(eset, body, old, as_user))
        if not as_user:
            self._check_rules(eset, values, closed)
        return self._bump(eset, values, old)

    def touch(self, eset: EntitySet, key: tuple[Any, ...]) -> Row:
        """What a concurrent edit by an IFS user leaves behind: a new Objversion."""
        old = self.tables[eset.name].rows[key]
        return self._bump(eset, dict(zip(eset.names, old, strict=True)), old)

    def delete(self, eset: EntitySet, key: tuple[Any, ...]) -> None:
        table = self.tables[eset.name]
        if key not in table.rows:
            raise _not_found()
        table.remove(key)
        for child in SETS.values():
            if child.parent == eset.name:
                child_table = self.tables[child.name]
                for row in list(self._children(child, dict(zip(eset.keys, key, strict=True)))):
                    child_table.remove(child.key_of(row))

    def _bump(self, eset: EntitySet, values: dict[str, Any], old: Row) -> Row:
        values["Objversion"] = next_objversion(values["Objversion"])
        if "ChangeDate" in eset.index:
            values["ChangeDate"] = _objversion_time(values["Objversion"])
        row = tuple(map(values.get, eset.names))
        self.tables[eset.name].put(row, old)
        return row

    def _convert(
        self, eset: EntitySet, body: dict[str, Any], old: Row | None, as_user: bool
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
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
                raise _error(
                    400, "DATABASE_ERROR",
                    f"ORA-20124: {eset.luname}.UPDATE: Field [{column(name)}] is not {verb}.",
                )  # fmt: skip
            values[name] = value
        return values

    def _check_rules(self, eset: EntitySet, values: dict[str, Any], closed: Iterable[str]) -> None:
        if eset.parent:
            parent = SETS[eset.parent]
            parent_row = self.get(parent, tuple(values.get(k) for k in parent.keys))
            if parent_row is None:
                raise _error(
                    400, "DATABASE_ERROR",
                    f"ORA-20111: {parent.luname}.NOTEXIST: The {parent.luname} "
                    f"{parent.keyref(values.get(k) for k in parent.keys)} does not exist.",
                )  # fmt: skip
            voucher_date = (
                parent_row[parent.index["VoucherDate"]] if "VoucherDate" in parent.index else None
            )
        else:
            voucher_date = values.get("VoucherDate")
        if voucher_date is not None and voucher_date[:7] in set(closed):
            raise _error(
                400, "DATABASE_ERROR",
                f"ORA-20015: AccountingPeriod.PERIODCLOSED: The period {voucher_date[:7]} "
                f"is closed for company {values.get('Company')} (voucher date {voucher_date}).",
            )  # fmt: skip
        account = values.get("Account")
        if account is not None and account not in _ACCOUNTS:
            raise _error(
                400, "DATABASE_ERROR",
                f"ORA-20111: Account.NOTEXIST: Account {account} does not exist in company "
                f"{values.get('Company')}.",
            )  # fmt: skip
        code_b = values.get("CodeB")
        if code_b is not None and code_b not in _COST_CENTRES:
            raise _error(
                400, "DATABASE_ERROR",
                f"ORA-20111: CodeB.NOTEXIST: Code part value {code_b} does not exist "
                "in code part B.",
            )  # fmt: skip

    def _children(self, child: EntitySet, parent_key: dict[str, Any]) -> Iterator[Row]:
        table = self.tables[child.name]
        positions = [(child.index[k], v) for k, v in parent_key.items()]
        for row in table.candidates(parent_key):
            if all(row[i] == v for i, v in positions):
                yield row

    def _next_key(self, eset: EntitySet, values: dict[str, Any]) -> Any:
        """The next free number: per parent for row numbers, per set for header ids."""
        assert eset.auto_key is not None
        i = eset.index[eset.auto_key]
        as_string = eset.properties[i].type == STRING
        if eset.parent:
            parent = SETS[eset.parent]
            rows = self._children(eset, {k: values.get(k) for k in parent.keys})
            number = max((int(r[i]) for r in rows if str(r[i]).isdigit()), default=0) + 1
        else:
            if eset.name not in self._sequences:
                rows = self.tables[eset.name].rows.values()
                self._sequences[eset.name] = max(
                    (int(r[i]) for r in rows if str(r[i]).isdigit()), default=0
                )
            table, number = self.tables[eset.name], self._sequences[eset.name] + 1
            while self._key_with(eset, values, str(number) if as_string else number) in table.rows:
                number += 1
            self._sequences[eset.name] = number
        return str(number) if as_string else number

    @staticmethod
    def _key_with(eset: EntitySet, values: dict[str, Any], auto: Any) -> tuple[Any, ...]:
        return tuple(auto if k == eset.auto_key else values.get(k) for k in eset.keys)


def _objversion_time(objversion: str) -> datetime:
    return datetime.strptime(objversion, OBJVERSION_FORMAT).replace(tzinfo=UTC)


def _deserialization(detail: str) -> ODataError:
    return ODataError(
        400,
        "ODP_DESERIALIZATION_ERROR",
        "Error while de-serializing contents.",
        [{"code": "ODP_DESERIALIZATION_ERROR", "message": detail}],
    )
