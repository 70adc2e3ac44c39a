"""F1's source: a period's purchase orders in IFS (headers by order date, with the
field where F5 marks the ones raised in ServiceTitan; all their lines, with ETags),
which of them changed since they were read, and which periods have changes since a
History Log cursor."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

import pandas as pd

from connector_dagster.defs.purchase_orders.settings import PurchaseOrderSettings
from connector_dagster.engine.link import Link
from connector_dagster.engine.periods import period_key
from connector_dagster.engine.spec import Changes, Frames, Item, Period, Read
from connector_dagster.lib import odata

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
KEYS_PER_REQUEST = 25
_ORDER_NO = re.compile(r"(?:^|\^)ORDER_NO=([^^]*)\^")


def _chunks(values: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class IfsPurchaseOrders:
    """IFS purchase orders as F1's source."""

    system = "IFS"

    def __init__(self, link: Link, settings: PurchaseOrderSettings) -> None:
        self.link = link
        self.settings = settings

    def read(self, name: str, period: Period, upstream: Mapping[str, Frames]) -> Read:
        """The connection's company's headers whose OrderDate lies in the period, and
        all their lines, with ETags."""
        ifs, sets = self.link.ifs, self.settings
        marker = sets.servicetitan_reference_field
        headers = [
            {**{f: row.get(f) for f in HEADER_FIELDS}, "st_reference": row.get(marker),
             "etag": row.etag}
            for row in ifs.query(
                sets.headers_set,
                filter=odata.and_(
                    odata.eq("Company", self.link.connection.ifs.company),
                    odata.ge("OrderDate", period.start),
                    odata.lt("OrderDate", period.end),
                ),
                select=[*HEADER_FIELDS, marker],
                orderby=["OrderNo"],
                keys=HEADER_KEYS,
            )
        ]  # fmt: skip
        lines: list[dict[str, Any]] = []
        for chunk in _chunks([h["OrderNo"] for h in headers], KEYS_PER_REQUEST):
            lines.extend(
                {**{f: row.get(f) for f in LINE_FIELDS}, "etag": row.etag}
                for row in ifs.query(
                    sets.lines_set,
                    filter=odata.any_of("OrderNo", chunk),
                    select=LINE_FIELDS,
                    orderby=list(LINE_KEYS),
                    keys=LINE_KEYS,
                )
            )
        frames = {
            "headers": pd.DataFrame(
                headers, columns=[*HEADER_FIELDS, "st_reference", "etag"], dtype=object
            ),
            "lines": pd.DataFrame(lines, columns=[*LINE_FIELDS, "etag"], dtype=object),
        }
        by_state = pd.Series([h["Objstate"] for h in headers]).value_counts().to_dict()
        return Read(
            frames,
            versions=[(h["OrderNo"], h["etag"]) for h in headers],
            metadata={"purchase_orders": len(headers), "lines": len(lines), "by_state": by_state},
        )

    def items(self, reads: Mapping[str, Frames]) -> list[Item]:
        frames = reads[READ]
        headers = frames["headers"].astype(object).where(frames["headers"].notna(), None)
        lines_frame = frames["lines"].astype(object).where(frames["lines"].notna(), None)
        lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for line in lines_frame.to_dict("records"):
            lines[line["OrderNo"]].append(line)
        return [
            Item(
                header["OrderNo"],
                header["etag"],
                {"header": header, "lines": lines.get(header["OrderNo"], [])},
            )
            for header in headers.to_dict("records")
        ]

    def changed(self, versions: Mapping[str, str | None]) -> set[str]:
        """Orders whose header ETag is no longer the one read (changed, or deleted)."""
        current: dict[str, str | None] = {}
        keys = sorted(versions)
        for chunk in _chunks(keys, KEYS_PER_REQUEST):
            for row in self.link.ifs.query(
                self.settings.headers_set,
                filter=odata.any_of("OrderNo", chunk),
                select=["OrderNo"],
                orderby=["OrderNo"],
                keys=HEADER_KEYS,
            ):
                current[row["OrderNo"]] = row.etag
        return {k for k in keys if current.get(k) != versions[k]}

    def changes(self, cursor: str | None) -> Changes:
        """Orders whose header or lines changed after History Log id `cursor`, by the
        period of their order date. Nothing changed: one request."""
        ifs, settings = self.link.ifs, self.settings
        logged = odata.any_of("LuName", settings.history_lu_names)
        if cursor is None:
            last = next(
                ifs.query(settings.history_set, filter=logged, select=["LogId"],
                          orderby=["LogId desc"], top=1, keys=("LogId",)),
                None,
            )  # fmt: skip
            return Changes({}, str(last["LogId"] if last else 0))
        rows = list(
            ifs.query(
                settings.history_set,
                filter=odata.and_(logged, odata.gt("LogId", int(cursor))),
                select=["LogId", "Keys"],
                orderby=["LogId"],
                top=settings.history_page,
                keys=("LogId",),
            )
        )
        if not rows:
            return Changes({}, cursor)
        orders = sorted(
            {m.group(1) for r in rows if (m := _ORDER_NO.search(str(r.get("Keys") or "")))}
        )
        periods: Counter[str] = Counter()
        requests = 1
        for chunk in _chunks(orders, KEYS_PER_REQUEST):
            requests += 1
            for row in ifs.query(
                settings.headers_set,
                filter=odata.and_(
                    odata.eq("Company", self.link.connection.ifs.company),
                    odata.any_of("OrderNo", chunk),
                ),
                select=["OrderNo", "OrderDate"],
                orderby=["OrderNo"],
                keys=HEADER_KEYS,
            ):
                periods[period_key(date.fromisoformat(str(row["OrderDate"])[:10]))] += 1
        return Changes(dict(periods), str(rows[-1]["LogId"]), requests)
