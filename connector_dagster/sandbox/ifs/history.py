"""IFS's History Log as the simulator keeps it: one row per insert, update or delete
of any record, served as `HistoryLogHandling.svc/HistoryLogOverviewSet`.

LogId increases with every change; TimeStamp is the record's new Objversion (for
a delete, the moment of the delete); Keys is the record's keyref. Seeded records
get an Insert row dated by their Objversion, in Objversion order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from connector_dagster.sandbox.ifs.schema import HISTORY_LOG, EntitySet, Row, column, rowid
from connector_dagster.sandbox.ifs.table import Table


def objversion_time(objversion: str) -> datetime:
    """`yyyymmddhhmmss` (UTC) as a datetime; quicker than strptime for a big seed."""
    v = objversion
    return datetime(
        int(v[:4]), int(v[4:6]), int(v[6:8]), int(v[8:10]), int(v[10:12]), int(v[12:14]), tzinfo=UTC
    )


@lru_cache(maxsize=64)
def table_name(eset: EntitySet) -> str:
    """The database table of an entity's LU: PurchaseOrder -> PURCHASE_ORDER_TAB."""
    return f"{column(eset.luname)}_TAB"


def _log_row(
    log_id: int, eset: EntitySet, keyref: str, kind: str, objversion: str, user: str
) -> Row:
    values = {
        "LogId": log_id,
        "LuName": eset.luname,
        "TableName": table_name(eset),
        "Keys": keyref,
        "HistoryType": kind,
        "TimeStamp": objversion_time(objversion),
        "Username": user,
        "Objversion": objversion,
        "Objkey": f"{log_id:032X}",
    }
    return HISTORY_LOG.make_row(values, rowid(HISTORY_LOG.name, log_id))


def seeded_log(tables: Mapping[str, Table], user: str) -> list[Row]:
    """An Insert row per stored record, in Objversion order (headers before their lines)."""
    entries = []
    for order, table in enumerate(tables.values()):
        eset = table.eset
        if eset.read_only:
            continue
        version, keyref = eset.index["Objversion"], eset.index["keyref"]
        entries.extend((row[version], order, eset, row[keyref]) for row in table.rows.values())
    entries.sort(key=lambda e: (e[0], e[1]))
    return [
        _log_row(n, eset, keyref, "Insert", objversion, user)
        for n, (objversion, _, eset, keyref) in enumerate(entries, start=1)
    ]


class HistoryLog:
    """Appends History Log rows to their table; `next_id` is the next LogId."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.next_id = len(table.rows) + 1

    def record(
        self, eset: EntitySet, key: Iterable[Any], kind: str, objversion: str, user: str
    ) -> None:
        """Log one change of the record `key` of `eset`."""
        log_id = self.next_id
        self.next_id += 1
        self.table.put(_log_row(log_id, eset, eset.keyref(key), kind, objversion, user))
