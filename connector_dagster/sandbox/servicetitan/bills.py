"""ServiceTitan accounting API, bills (read-only in ServiceTitan): inventory bills
(procurement, one per received PO), AP bills, their export feed and
`markasexported`. Procurement bills live in table `inventory-bills`, standalone
AP bills in `ap-bills`; `billType` picks between them (default Procurement)."""

from __future__ import annotations

from connector_dagster.sandbox.servicetitan.body import Field, require_valid
from connector_dagster.sandbox.servicetitan.common import (
    Row,
    fmt_day,
    fmt_ts,
    money,
    not_found,
    qty,
)
from connector_dagster.sandbox.servicetitan.query import F, page, q_enum, select
from connector_dagster.sandbox.servicetitan.refdata import (
    GL_REFS,
    INVENTORY_ACCOUNT,
    ITEM_ACCOUNTS,
    REGION_BY_BU,
    SKUS,
)
from connector_dagster.sandbox.servicetitan.references import named
from connector_dagster.sandbox.servicetitan.store import Call, Store, export

SYNC_STATUSES = ("Pending", "Posted", "Exported", "PostedAndExported")
AP_STATUSES = ("Unreconciled", "Discrepancy", "Reconciled", "Canceled")
AP_SOURCES = ("Undefined", "Standalone", "Purchasing", "Recurring", "OCR", "API")
BILL_TYPES = ("NotSet", "Procurement", "ApBill", "RecurringBill")
_EXPORTED = {"Pending": "Exported", "Posted": "PostedAndExported"}
_FILTERS = (
    F("createdOnOrAfter", "since", lambda r: r["createdOn"]),
    F("createdBefore", "before", lambda r: r["createdOn"]),
    F("modifiedOnOrAfter", "since", lambda r: r["modifiedOn"]),
    F("modifiedBefore", "before", lambda r: r["modifiedOn"]),
    F("dateFrom", "since", lambda r: r["billDate"]),
    F("dateTo", "until", lambda r: r["billDate"]),
    F("batchId", "eq", lambda r: None),
    F("batchNumber", "eq", lambda r: None),
    F("billNumber", "contains", lambda r: r["referenceNumber"]),
    F("businessUnitIds", "in", lambda r: r["businessUnitId"]),
    F("jobNumber", "contains", lambda r: str(r["jobId"] or "")),
    F("purchaseOrderNumber", "contains", lambda r: r["purchaseOrderNumber"]),
    F("purchaseOrderTypes", "anyi", lambda r: str(r["purchaseOrderTypeId"])),
    F("syncStatuses", "enum", lambda r: r["syncStatus"], SYNC_STATUSES),
    F("minCost", "dec>=", lambda r: r["billAmount"]),
    F("maxCost", "dec<=", lambda r: r["billAmount"]),
)
_AP_FILTERS = (
    *_FILTERS,
    F("statuses", "enum", lambda r: r["status"], AP_STATUSES),
    F("sources", "enum", lambda r: r["source"], AP_SOURCES),
)
MARK_INVENTORY_BILLS = {"inventoryBillIds": Field("array", True, items="int")}
MARK_AP_BILLS = {"billIds": Field("array", True, items="int")}


def _bill_items(bill: Row, store: Store, ap: bool) -> list[Row]:
    warehouse = store.tables["warehouses"].get(bill["inventoryLocationId"])
    location = warehouse["name"] if warehouse else None
    if ap and warehouse:
        location = {"id": warehouse["id"], "name": warehouse["name"], "type": "Warehouse"}
    rows = []
    for item_id, sku_id, quantity, cost, order in bill["items"]:
        sku = SKUS[sku_id]
        row = {
            "order": order,
            "name": sku.code,
            "description": sku.name,
            "quantity": qty(quantity),
            "cost": money(cost),
            "inventoryLocation": location,
            "serialNumber": None,
            "generalLedgerAccount": GL_REFS[INVENTORY_ACCOUNT],
            "costOfSaleAccount": GL_REFS[ITEM_ACCOUNTS[sku.type][1] or INVENTORY_ACCOUNT],
            "assetAccount": GL_REFS[INVENTORY_ACCOUNT],
            "id": item_id,
            "skuId": sku_id,
            "receiptItemId": None,
            "skuType": sku.type,
            "skuCode": sku.code,
            "budgetCodeId": None,
        }
        if ap:
            row["vendorPartNumber"] = None
        rows.append(row)
    return rows


def render_inventory_bill(bill: Row, store: Store) -> Row:
    region = REGION_BY_BU.get(bill["businessUnitId"])
    warehouse = store.tables["warehouses"].get(bill["inventoryLocationId"])
    return {
        "id": bill["id"],
        "purchaseOrderId": bill["purchaseOrderId"],
        "syncStatus": bill["syncStatus"],
        "referenceNumber": bill["referenceNumber"],
        "vendorNumber": bill["vendorNumber"],
        "summary": bill["summary"],
        "billDate": fmt_day(bill["billDate"]),
        "billAmount": money(bill["billAmount"]),
        "taxAmount": money(bill["taxAmount"]),
        "shippingAmount": money(bill["shippingAmount"]),
        "createdBy": "warehouse",
        "createdOn": fmt_ts(bill["createdOn"]),
        "modifiedOn": fmt_ts(bill["modifiedOn"]),
        "termName": "Net 30",
        "dueDate": fmt_day(bill["dueDate"]),
        "shipToDescription": warehouse["name"] if warehouse else None,
        "postDate": fmt_day(bill["postDate"]),
        "batch": None,
        "businessUnit": named(store, "business-units", bill["businessUnitId"]),
        "taxZone": named(store, "tax-zones", region.st_tax_zone_id) if region else None,
        "vendor": named(store, "vendors", bill["vendorId"]),
        "shipTo": dict(warehouse["address"]) if warehouse else None,
        "budgetCodeId": None,
        "items": _bill_items(bill, store, ap=False),
        "customFields": [],
        "jobId": bill["jobId"],
        "jobNumber": str(bill["jobId"]) if bill["jobId"] else None,
    }


def render_ap_bill(bill: Row, store: Store) -> Row:
    base = render_inventory_bill(bill, store)
    return {
        "id": bill["id"],
        "purchaseOrderId": bill["purchaseOrderId"],
        "syncStatus": bill["syncStatus"],
        "status": bill["status"],
        "source": bill["source"],
        "billType": bill["billType"],
        "postDate": base["postDate"],
        "referenceNumber": bill["referenceNumber"],
        "vendorNumber": bill["vendorNumber"],
        "summary": bill["summary"],
        "billDate": base["billDate"],
        "earlyDiscountDate": None,
        "billAmount": base["billAmount"],
        "vendorInvoiceTotal": money(
            bill["billAmount"] + bill["taxAmount"] + bill["shippingAmount"]
        ),
        "taxAmount": base["taxAmount"],
        "shippingAmount": base["shippingAmount"],
        "createdBy": base["createdBy"],
        "createdOn": base["createdOn"],
        "modifiedOn": base["modifiedOn"],
        "termName": base["termName"],
        "dueDate": base["dueDate"],
        "doNotPay": False,
        "dateCanceled": None,
        "canceledBy": None,
        "shipToDescription": base["shipToDescription"],
        "batch": None,
        "businessUnit": base["businessUnit"],
        "taxZone": base["taxZone"],
        "vendor": base["vendor"],
        "remittanceVendorInfo": None,
        "shipTo": base["shipTo"],
        "budgetCodeId": None,
        "items": _bill_items(bill, store, ap=True),
        "expenseItems": [
            {
                "id": item_id,
                "amount": money(amount),
                "description": description,
                "generalLedgerAccount": GL_REFS[account],
                "job": None,
                "businessUnit": base["businessUnit"],
                "budgetCodeId": None,
                "projectLabelIds": [],
            }
            for item_id, amount, account, description in bill["expenseItems"]
        ],
        "customFields": [],
        "jobId": bill["jobId"],
        "jobNumber": base["jobNumber"],
    }


def _bills(c: Call, filters: tuple[F, ...]) -> list[Row]:
    kinds = q_enum(c.q, "billType", BILL_TYPES) or ["Procurement"]
    tables = {
        "NotSet": ("inventory-bills", "ap-bills"),
        "Procurement": ("inventory-bills",),
        "ApBill": ("ap-bills",),
        "RecurringBill": (),
    }[kinds[0]]
    rows = [r for t in tables for r in select(c.store.tables[t], c.q, filters)]
    return sorted(rows, key=lambda r: r["id"]) if len(tables) > 1 else rows


def list_inventory_bills(c: Call) -> list[Row]:
    """The unpaged list: a bare JSON array (paging parameters still apply)."""
    return page(_bills(c, _FILTERS), c.q, lambda b: render_inventory_bill(b, c.store), c.page_max)[
        "data"
    ]


def list_inventory_bills_paginated(c: Call) -> Row:
    return page(_bills(c, _FILTERS), c.q, lambda b: render_inventory_bill(b, c.store), c.page_max)


def list_ap_bills(c: Call) -> Row:
    return page(_bills(c, _AP_FILTERS), c.q, lambda b: render_ap_bill(b, c.store), c.page_max)


def get_ap_bill(c: Call) -> Row:
    bill_id = c.path_int("billId", "AP bill")
    bill = c.store.tables["ap-bills"].get(bill_id) or c.store.tables["inventory-bills"].get(bill_id)
    if bill is None:
        raise not_found(f"AP bill {bill_id}")
    return render_ap_bill(bill, c.store)


def export_inventory_bills(c: Call) -> Row:
    feed = export(c.store, "inventory-bills", c.q, c.page_max)
    feed["data"] = [
        {**render_inventory_bill(b, c.store), "active": b["active"]} for b in feed["data"]
    ]
    return feed


def mark_bill(store: Store, bill: Row) -> None:
    """Mark one bill exported: Pending → Exported, Posted → PostedAndExported.
    Bills carry no external id, so marking an exported bill again changes nothing."""
    exported = _EXPORTED.get(bill["syncStatus"], bill["syncStatus"])
    if exported != bill["syncStatus"]:
        bill["syncStatus"] = exported
        store.touch("inventory-bills" if bill["billType"] == "Procurement" else "ap-bills", bill)


def _mark(c: Call, ids: list[int], key: str, tables: tuple[str, ...], what: str) -> list[Row]:
    results = []
    for bill_id in ids:
        bill = next(
            (c.store.tables[t][bill_id] for t in tables if bill_id in c.store.tables[t]), None
        )
        if bill is None:
            error: str | None = f"{what} {bill_id} was not found."
        else:
            mark_bill(c.store, bill)
            error = None
        results.append({key: bill_id, "success": error is None, "errorMessage": error})
    return results


def mark_inventory_bills_exported(c: Call) -> list[Row]:
    body = require_valid(c.body, MARK_INVENTORY_BILLS)
    return _mark(
        c, body["inventoryBillIds"], "inventoryBillId", ("inventory-bills",), "Inventory bill"
    )


def mark_ap_bills_exported(c: Call) -> list[Row]:
    """AP bills include procurement bills (their `billType` is Procurement)."""
    body = require_valid(c.body, MARK_AP_BILLS)
    return _mark(c, body["billIds"], "billId", ("ap-bills", "inventory-bills"), "AP bill")


ROUTES = (
    ("GET", "accounting", "inventory-bills", list_inventory_bills),
    ("GET", "accounting", "inventory-bills/paginated", list_inventory_bills_paginated),
    ("POST", "accounting", "inventory-bills/markasexported", mark_inventory_bills_exported),
    ("GET", "accounting", "export/inventory-bills", export_inventory_bills),
    ("GET", "accounting", "ap-bills", list_ap_bills),
    ("GET", "accounting", "ap-bills/{billId}", get_ap_bill),
    ("POST", "accounting", "ap-bills/markasexported", mark_ap_bills_exported),
)
