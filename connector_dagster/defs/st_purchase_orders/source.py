"""F5's source: a period's purchase orders raised in ServiceTitan (by PO date, with
their items), never one that F1 wrote (its memo carries F1's marker); which of them
changed since they were read; and which periods have changes since an export cursor."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from connector_dagster.defs.st_purchase_orders.settings import RaisedPurchaseOrderSettings
from connector_dagster.engine.periods import period_key
from connector_dagster.engine.records import Changes, Frames, Item, Period, Read
from connector_dagster.engine.session import FlowPart
from connector_dagster.kits.purchase_orders.provenance import made_from_ifs

READ = "servicetitan_purchase_orders_raised"
PO_FIELDS = [
    "id", "number", "status", "vendorId", "businessUnitId", "inventoryLocationId", "typeId",
    "jobId", "date", "requiredOn", "tax", "shipping", "total", "summary", "modifiedOn",
]  # fmt: skip
ITEM_FIELDS = [
    "purchaseOrderId", "id", "skuId", "description", "vendorPartNumber", "quantity", "cost",
    "status",
]  # fmt: skip


def _day(value: Any) -> str | None:
    return str(value)[:10] if value else None


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


class ServiceTitanRaisedPurchaseOrders(FlowPart[RaisedPurchaseOrderSettings]):
    """ServiceTitan purchase orders as F5's source."""

    system = "ServiceTitan"

    def read(self, name: str, period: Period, upstream: Mapping[str, Frames]) -> Read:
        """The POs whose date lies in the period (every status), with their items;
        those F1 created from IFS POs are left out."""
        pos: list[dict[str, Any]] = []
        items: list[dict[str, Any]] = []
        from_erp = 0
        for po in self.session.servicetitan.iter_pages(
            "inventory",
            "purchase-orders",
            {"dateOnOrAfter": _midnight(period.start), "dateBefore": _midnight(period.end)},
        ):
            if made_from_ifs(po.get("summary")):
                from_erp += 1
                continue
            pos.append(
                {
                    **{f: po.get(f) for f in PO_FIELDS},
                    "date": _day(po.get("date")),
                    "requiredOn": _day(po.get("requiredOn")),
                }
            )
            items.extend(
                {**{f: item.get(f) for f in ITEM_FIELDS}, "purchaseOrderId": po["id"]}
                for item in po.get("items") or []
            )
        frames = {
            "purchase_orders": pd.DataFrame(pos, columns=PO_FIELDS, dtype=object),
            "items": pd.DataFrame(items, columns=ITEM_FIELDS, dtype=object),
        }
        by_status = Counter(p["status"] for p in pos)
        return Read(
            frames,
            versions=[(str(p["id"]), p["modifiedOn"]) for p in pos],
            metadata={
                "purchase_orders": len(pos),
                "items": len(items),
                "by_status": dict(by_status),
                "from_ifs_left_out": from_erp,
            },
        )

    def items(self, reads: Mapping[str, Frames]) -> list[Item]:
        frames = reads[READ]
        pos = (
            frames["purchase_orders"].astype(object).where(frames["purchase_orders"].notna(), None)
        )
        items_frame = frames["items"].astype(object).where(frames["items"].notna(), None)
        by_po: dict[Any, list[dict[str, Any]]] = {}
        for item in items_frame.to_dict("records"):
            by_po.setdefault(item["purchaseOrderId"], []).append(item)
        return [
            Item(
                str(po["id"]),
                po["modifiedOn"],
                {"purchase_order": po, "items": by_po.get(po["id"], [])},
            )
            for po in pos.to_dict("records")
        ]

    def changed(self, versions: Mapping[str, str | None]) -> set[str]:
        """POs whose modifiedOn is no longer the one read (changed, or gone)."""
        current = {
            str(po["id"]): po.get("modifiedOn")
            for po in self.session.servicetitan.get_by_ids(
                "inventory", "purchase-orders", [int(k) for k in versions]
            )
        }
        return {k for k, v in versions.items() if current.get(k) != v}

    def changes(self, cursor: str | None) -> Changes:
        """POs changed after export cursor `cursor`, by the period of their date (F1's
        left out). Nothing changed: one request."""
        st = self.session.servicetitan
        if cursor is None:
            now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
            first = next(st.export("inventory", "purchase-orders", now))
            return Changes({}, first.continue_from)
        periods: Counter[str] = Counter()
        requests, last = 0, cursor
        for page in st.export("inventory", "purchase-orders", cursor):
            requests += 1
            for po in page.rows:
                if po.get("date") and not made_from_ifs(po.get("summary")):
                    periods[period_key(date.fromisoformat(str(po["date"])[:10]))] += 1
            last = page.continue_from
        return Changes(dict(periods), last, requests)
