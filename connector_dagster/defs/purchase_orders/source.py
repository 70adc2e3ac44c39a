"""F1's source: a period's purchase orders in IFS (headers by order date, with the
field where F5 marks the ones raised in ServiceTitan; their lines, with ETags, read
again only where the History Log or a header says they may have changed),
which of them changed since they were read, and which periods have changes since a
History Log cursor."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import pandas as pd

from connector_dagster.defs.purchase_orders.settings import PurchaseOrderSettings
from connector_dagster.engine import snapshots
from connector_dagster.engine.periods import period_key
from connector_dagster.engine.records import Changes, Frames, Item, Period, Read
from connector_dagster.engine.session import FlowPart
from connector_dagster.systems.ifs import history as ifs_history
from connector_dagster.systems.ifs import odata

READ = "ifs_purchase_orders"
HEADER_FIELDS = [
    "OrderNo", "VendorNo", "OrderDate", "Objstate", "Contract", "CurrencyCode",
    "WantedReceiptDate", "TaxCode", "Company",
]  # fmt: skip
LINE_FIELDS = [
    "OrderNo", "LineNo", "ReleaseNo", "PartNo", "Description", "BuyQtyDue", "BuyUnitMeas",
    "BuyUnitPrice", "TaxCode", "Objstate",
]  # fmt: skip
HEADER_KEYS = ("OrderNo",)
LINE_KEYS = ("OrderNo", "LineNo", "ReleaseNo")
LINE_SELECT = list(dict.fromkeys([*LINE_FIELDS, *LINE_KEYS]))
LINE_COLUMNS = [*LINE_FIELDS, "etag"]
NUMBERS = frozenset(("BuyQtyDue", "BuyUnitPrice"))
"""Line fields IFS sends as numbers (Decimals, which a kept read holds as text)."""
LINES_LU = "PurchaseOrderLine"
STATE = "read_state"
"""The frame that says what the read's lines are as of: `history_from`, the History
Log's newest TimeStamp when the read began, and `full_read_at`, when every line was
last read (both ISO text)."""
SHARED = frozenset(("VendorNo", "OrderDate", "Objstate", "Contract", "CurrencyCode",
                    "WantedReceiptDate", "TaxCode", "Company", "PartNo", "Description",
                    "BuyUnitMeas", "LineNo", "ReleaseNo"))  # fmt: skip
"""Fields whose text repeats across many rows: one object per distinct text (only text:
1 and 1.0 are equal keys, and the number read must be kept as read)."""


class _Table:
    """A frame's rows as dicts on demand, a missing value as None."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.fields = [str(c) for c in frame.columns]
        self._columns = [
            [None if _missing(v) else v for v in frame[c].to_numpy(dtype=object)]
            for c in frame.columns
        ]

    def column(self, name: str) -> list[Any]:
        return self._columns[self.fields.index(name)]

    def row(self, n: int) -> dict[str, Any]:
        return {f: column[n] for f, column in zip(self.fields, self._columns, strict=True)}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NA


class _Order(Mapping[str, Any]):
    """An order's `header` and `lines` (dicts, made when read) from the read's tables."""

    __slots__ = ("_head", "_headers", "_lines", "_rows")

    def __init__(self, headers: _Table, head: int, lines: _Table, rows: list[int]) -> None:
        self._headers, self._head, self._lines, self._rows = headers, head, lines, rows

    def __getitem__(self, key: str) -> Any:
        if key == "header":
            return self._headers.row(self._head)
        if key == "lines":
            return [self._lines.row(n) for n in self._rows]
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(("header", "lines"))

    def __len__(self) -> int:
        return 2


class _Columns:
    """Rows as one list of values per field; the text of the fields in `shared` is one
    object per distinct value across every row (and every `_Columns` given the same
    `shared`)."""

    def __init__(self, fields: list[str], shared: dict[str, dict[Any, Any]]) -> None:
        self.fields = fields
        self.columns: dict[str, list[Any]] = {f: [] for f in fields}
        self._lists = [
            (self.columns[f], shared.get(f)) for f in fields
        ]  # (values, their shared objects or None)

    def add(self, values: list[Any]) -> None:
        for (column, seen), value in zip(self._lists, values, strict=True):
            shared = seen is not None and type(value) is str
            column.append(seen.setdefault(value, value) if shared else value)

    def extend(self, other: _Columns) -> None:
        for f in self.fields:
            self.columns[f].extend(other.columns[f])
            other.columns[f].clear()

    def __len__(self) -> int:
        return len(self.columns[self.fields[0]])

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.columns, columns=self.fields, dtype=object)


@dataclass
class _LinePlan:
    """The orders whose lines a read fetches, the lines it keeps from the last read for
    the others, and what its lines are as of."""

    read: list[str]
    kept: _Columns
    history_from: datetime | None
    full_read_at: datetime
    why: str

    def state(self) -> pd.DataFrame:
        row = [None if self.history_from is None else self.history_from.isoformat(),
               self.full_read_at.isoformat()]  # fmt: skip
        return pd.DataFrame([row], columns=["history_from", "full_read_at"], dtype=object)


def _kept_lines(
    lines: pd.DataFrame, orders: set[str], shared: dict[str, dict[Any, Any]]
) -> _Columns:
    """The rows of a kept read's `lines` frame that belong to `orders`, their values as a
    read gives them (the numbers IFS sends as Decimals back from text)."""
    kept = _Columns(LINE_COLUMNS, shared)
    table = _Table(lines[LINE_COLUMNS])
    columns = [(table.column(f), f in NUMBERS) for f in LINE_COLUMNS]
    for n, order_no in enumerate(table.column("OrderNo")):
        if order_no in orders:
            kept.add([_number(c[n]) if numeric else c[n] for c, numeric in columns])
    return kept


def _number(value: Any) -> Any:
    if type(value) is not str:
        return value
    try:
        return Decimal(value)
    except InvalidOperation:
        return value


class IfsPurchaseOrders(FlowPart[PurchaseOrderSettings]):
    """IFS purchase orders as F1's source."""

    system = "IFS"

    def read(self, name: str, period: Period, upstream: Mapping[str, Frames]) -> Read:
        """The connection's company's headers whose OrderDate lies in the period, and
        their lines, with ETags. Rows are kept as columns of values (the values that
        repeat across rows one object each), not a dict per row: a period of tens of
        thousands of orders is held once, in its frames.

        Lines are read for the orders the last read of the period cannot vouch for
        (`_line_plan`); the others' lines are the last read's. The History Log's newest
        TimeStamp is taken first, so a change made while this read runs is named to
        the next one."""
        ifs, sets = self.session.ifs, self.settings
        newest = ifs_history.newest_time(ifs, sets.history_set, sets.history_lu_names)
        marker = sets.servicetitan_reference_field
        shared: dict[str, dict[Any, Any]] = {f: {} for f in SHARED}
        heads = _Columns([*HEADER_FIELDS, "st_reference", "etag"], shared)
        for row in ifs.query(
            sets.headers_set,
            filter=odata.and_(
                odata.eq("Company", self.session.connection.ifs.company),
                odata.ge("OrderDate", period.start),
                odata.lt("OrderDate", period.end),
            ),
            select=[*HEADER_FIELDS, marker],
            orderby=["OrderNo"],
            keys=HEADER_KEYS,
        ):
            heads.add([*(row.get(f) for f in HEADER_FIELDS), row.get(marker), row.etag])
        plan = self._line_plan(name, period, heads, newest, shared)
        lines = self._lines(plan.read, shared)
        lines.extend(plan.kept)
        frames = {"headers": heads.frame(), "lines": lines.frame(), STATE: plan.state()}
        by_state = pd.Series(heads.columns["Objstate"], dtype=object).value_counts().to_dict()
        return Read(
            frames,
            versions=list(zip(heads.columns["OrderNo"], heads.columns["etag"], strict=True)),
            metadata={
                "purchase_orders": len(heads),
                "lines": len(lines),
                "by_state": by_state,
                "lines_read_for": len(plan.read),
                "lines_kept_for": len(heads) - len(plan.read),
                "lines_read_because": plan.why,
            },
        )

    def _line_plan(
        self,
        name: str,
        period: Period,
        heads: _Columns,
        newest: datetime | None,
        shared: dict[str, dict[Any, Any]],
    ) -> _LinePlan:
        """Whose lines to read, and the lines kept from the period's last read for the
        rest: an order's lines are kept when the order was in the last read with the same
        header ETag and no History Log row (header or line) names it since that read
        began, less `history_lag_minutes`. Every line is read when that cannot be told
        (the reason is `why`) or the last full read is `lines_full_read_hours` old."""
        sets, now = self.settings, datetime.now(UTC)
        order_nos: list[str] = heads.columns["OrderNo"]

        def every(why: str) -> _LinePlan:
            return _LinePlan(order_nos, _Columns(LINE_COLUMNS, shared), newest, now, why)

        if sets.lines_full_read_hours == 0:
            return every("lines_full_read_hours is 0")
        if LINES_LU not in sets.history_lu_names:
            return every(f"{LINES_LU} is not among history_lu_names")
        store, connection = self.session.store, self.session.name
        kept_state = snapshots.last_read(store, connection, name, period.key, (STATE,))
        if kept_state is None or kept_state[STATE].empty:
            return every("no earlier read of the period")
        state = kept_state[STATE].iloc[0]
        since, full_at = state["history_from"], state["full_read_at"]
        if newest is None or since is None or full_at is None:
            return every("the History Log had no purchase order rows")
        age = now - datetime.fromisoformat(full_at)
        if age.total_seconds() >= sets.lines_full_read_hours * 3600:
            return every(
                f"the last full read was {timedelta(seconds=int(age.total_seconds()))} ago"
            )
        ifs = self.session.ifs
        full_cost = sum(1 for _ in self._line_groups(order_nos))
        logged = ifs_history.logged_since(
            ifs, sets.history_set, sets.history_lu_names, "ORDER_NO",
            datetime.fromisoformat(since) - timedelta(minutes=sets.history_lag_minutes),
            max(full_cost, 1) * (ifs.settings.page_size or sets.history_page),
        )  # fmt: skip
        if logged is None:
            return every("the History Log has more rows since the last read than a full read")
        last = snapshots.last_read(store, connection, name, period.key, ("headers", "lines"))
        if last is None or not set(LINE_COLUMNS) <= set(last["lines"]):
            return every("no earlier read of the period")
        before = dict(zip(last["headers"]["OrderNo"], last["headers"]["etag"], strict=True))
        etags = heads.columns["etag"]
        read = [
            o for o, etag in zip(order_nos, etags, strict=True)
            if o in logged or before.get(o) != etag
        ]  # fmt: skip
        kept = _kept_lines(last["lines"], set(order_nos) - set(read), shared)
        why = "new, changed or in the History Log since the last read (the rest kept)"
        return _LinePlan(read, kept, newest, datetime.fromisoformat(full_at), why)

    def _lines(self, order_nos: list[str], shared: dict[str, dict[Any, Any]]) -> _Columns:
        """The lines of the orders, with ETags: one request per group of orders that
        keeps its URL within IFS's limit, the groups fetched concurrently (the
        client's `concurrency`), so that a large period reads at IFS's rate limit
        rather than one round trip at a time."""
        ifs, lines_set = self.session.ifs, self.settings.lines_set
        groups = self._line_groups(order_nos)

        def fetch(group: list[str]) -> _Columns:
            part = _Columns(LINE_COLUMNS, shared)
            for row in ifs.query(
                lines_set, filter=odata.any_of("OrderNo", group), select=LINE_SELECT,
                orderby=list(LINE_KEYS), keys=LINE_KEYS,
            ):  # fmt: skip
                part.add([*(row.get(f) for f in LINE_FIELDS), row.etag])
            return part

        lines = _Columns(LINE_COLUMNS, shared)
        for part in ifs.map_concurrent(fetch, list(groups)):
            lines.extend(part)
        return lines

    def _line_groups(self, order_nos: list[str]) -> Iterator[list[str]]:
        """The orders in groups, one request for lines each (see `_lines`)."""
        return self.session.ifs.chunks(
            self.settings.lines_set, order_nos, lambda v: odata.eq("OrderNo", v),
            select=LINE_SELECT, orderby=list(LINE_KEYS),
        )  # fmt: skip

    def items(self, reads: Mapping[str, Frames]) -> list[Item]:
        """One item per header; its data, the header and its lines as dicts, made from
        the frames each time they are asked for (`_Order`), so that a large period's
        items hold no dict per row while they wait to be written."""
        frames = reads[READ]
        headers, lines = _Table(frames["headers"]), _Table(frames["lines"])
        by_order: dict[str, list[int]] = defaultdict(list)
        for n, order_no in enumerate(lines.column("OrderNo")):
            by_order[order_no].append(n)
        keys, etags = headers.column("OrderNo"), headers.column("etag")
        return [
            Item(key, etag, _Order(headers, n, lines, by_order.get(key, [])))
            for n, (key, etag) in enumerate(zip(keys, etags, strict=True))
        ]

    def changed(self, versions: Mapping[str, str | None]) -> set[str]:
        """Orders whose header ETag is no longer the one read (changed, or deleted)."""
        current: dict[str, str | None] = {}
        keys = sorted(versions)
        for row in self.session.ifs.query_any_of(
            self.settings.headers_set, "OrderNo", keys, select=["OrderNo"], keys=HEADER_KEYS
        ):
            current[row["OrderNo"]] = row.etag
        return {k for k in keys if current.get(k) != versions[k]}

    def changes(self, cursor: str | None) -> Changes:
        """Orders whose header or lines changed after History Log id `cursor`, by the
        period of their order date. Nothing changed: one request."""
        ifs, settings = self.session.ifs, self.settings
        logged = ifs_history.logged_keys(
            ifs, settings.history_set, settings.history_lu_names, "ORDER_NO", cursor,
            settings.history_page,
        )  # fmt: skip
        dates, requests = ifs_history.dates_of(
            ifs, settings.headers_set, self.session.connection.ifs.company, "OrderNo",
            logged.keys, "OrderDate", HEADER_KEYS,
        )  # fmt: skip
        periods = Counter(period_key(d) for d in dates)
        return Changes(dict(periods), logged.cursor, logged.requests + requests)
