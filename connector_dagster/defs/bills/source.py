"""F4's source: a period's ServiceTitan AP and inventory bills (by bill date, with their
items and expense lines), which changed since they were read, and which periods have
changes since a `modifiedOn` cursor. Bills carry no external id, so whether this
connector exported one is in its ledger, read here for the mapping."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from connector_dagster.defs.bills.settings import BillSettings
from connector_dagster.engine.records import Changes, Frames, Item, Period, Read
from connector_dagster.kits.postings.source import (
    ServiceTitanDocuments,
    frame,
    modified_since,
    period_frame,
    records,
)

FLOW = "bills"
BILLS = "servicetitan_bills"
KIND = {"ApBill": "ap", "Procurement": "inventory"}
TYPE = {kind: bill_type for bill_type, kind in KIND.items()}
BILL_FIELDS = ["key", "kind", "id", "billDate", "syncStatus", "status", "businessUnitId",
               "taxZoneId", "vendorName", "vendorNumber", "referenceNumber", "summary",
               "billAmount", "taxAmount", "shippingAmount", "purchaseOrderId", "jobId",
               "modifiedOn"]  # fmt: skip
LINE_FIELDS = ["billKey", "line", "id", "order", "description", "quantity", "cost", "amount",
               "glAccountId", "glAccountNumber", "glAccountName"]  # fmt: skip


def bill_key(kind: str, bill_id: Any) -> str:
    """`ap-5000123` or `inventory-66000001`: a bill as the ledger knows it."""
    return f"{kind}-{bill_id}"


class ServiceTitanBills(ServiceTitanDocuments[BillSettings]):
    """ServiceTitan AP and inventory bills as F4's source."""

    def read(self, name: str, period: Period, upstream: Mapping[str, Frames]) -> Read:
        """Bills of each type whose bill date lies in the period, with their lines."""
        last_day = period.end - timedelta(days=1)
        bills: list[dict[str, Any]] = []
        lines: list[dict[str, Any]] = []
        for bill_type in self.settings.bill_types:
            params = {
                "billType": bill_type,
                "dateFrom": f"{period.start.isoformat()}T00:00:00Z",
                "dateTo": f"{last_day.isoformat()}T00:00:00Z",
            }
            for bill in self.st.iter_pages("accounting", "ap-bills", params):
                head = _head(KIND[bill_type], bill)
                bills.append(head)
                lines.extend(_lines(head["key"], bill))
        frames = {
            "bills": frame(bills, BILL_FIELDS),
            "lines": frame(lines, LINE_FIELDS),
            "period": period_frame(period),
        }
        return Read(
            frames,
            versions=[(b["key"], b["modifiedOn"]) for b in bills],
            metadata={
                "bills": len(bills),
                "lines": len(lines),
                "by_kind": dict(Counter(b["kind"] for b in bills)),
                "by_sync_status": dict(Counter(b["syncStatus"] for b in bills)),
            },
        )

    def items(self, reads: Mapping[str, Frames]) -> list[Item]:
        frames = reads[BILLS]
        [period] = records(frames["period"])
        lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in records(frames["lines"]):
            lines[row["billKey"]].append(row)
        heads = records(frames["bills"])
        ledger = self.session.store.ledger(self.session.name, FLOW, [h["key"] for h in heads])
        items = []
        for head in heads:
            entry = ledger.get(head["key"])
            ours = entry is not None and (entry.first_intent_at or entry.target_id) is not None
            data = {
                "bill": head,
                "lines": lines.get(head["key"], []),
                "period": period,
                "ours": ours,
            }
            items.append(Item(head["key"], head["modifiedOn"], data))
        return items

    def changed(self, versions: Mapping[str, str | None]) -> set[str]:
        """Bills modified since the version read, or gone."""
        ids: dict[str, list[int]] = defaultdict(list)
        for key in versions:
            kind, _, bill_id = key.partition("-")
            ids[kind].append(int(bill_id))
        current: dict[str, Any] = {}
        for kind, wanted in ids.items():
            for row in self.st.get_by_ids(
                "accounting", "ap-bills", wanted, {"billType": TYPE[kind]}
            ):
                current[bill_key(kind, row["id"])] = row.get("modifiedOn")
        return {k for k, v in versions.items() if current.get(k) != v}

    def changes(self, cursor: str | None) -> Changes:
        """Bills of every type (`billType=NotSet`) modified since the cursor."""
        return modified_since(self.st, "ap-bills", {"billType": "NotSet"}, cursor, "billDate")


def _head(kind: str, bill: dict[str, Any]) -> dict[str, Any]:
    return {
        **{f: bill.get(f) for f in BILL_FIELDS},
        "key": bill_key(kind, bill["id"]),
        "kind": kind,
        "billDate": str(bill.get("billDate") or "")[:10] or None,
        "businessUnitId": (bill.get("businessUnit") or {}).get("id"),
        "taxZoneId": (bill.get("taxZone") or {}).get("id"),
        "vendorName": (bill.get("vendor") or {}).get("name"),
    }


def _lines(key: str, bill: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for line, entries in (("item", bill.get("items")), ("expense", bill.get("expenseItems"))):
        for entry in entries or []:
            account = entry.get("generalLedgerAccount") or {}
            rows.append(
                {
                    **{f: entry.get(f) for f in LINE_FIELDS},
                    "billKey": key,
                    "line": line,
                    "glAccountId": account.get("id"),
                    "glAccountNumber": account.get("number"),
                    "glAccountName": account.get("name"),
                }
            )
    return rows
