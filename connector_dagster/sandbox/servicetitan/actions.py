"""What a ServiceTitan user would do between two API calls, as store operations
for the `/_sandbox/` control endpoints: move a purchase order through the
warehouse (receiving creates its inventory bill), post or change an invoice
(with its job), and edit a journal entry (a new versionId)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connector_dagster.sandbox.servicetitan.accounting import SYNC_STATUSES
from connector_dagster.sandbox.servicetitan.common import (
    DECIMAL_MAX,
    TOO_LARGE,
    ApiError,
    Row,
    fits,
    now_us,
    parse_us,
)
from connector_dagster.sandbox.servicetitan.journal_model import bump
from connector_dagster.sandbox.servicetitan.po_model import PO_STATUSES
from connector_dagster.sandbox.servicetitan.refdata import REGION_BY_BU, SKUS
from connector_dagster.sandbox.servicetitan.seed_purchasing import bill_from_po
from connector_dagster.sandbox.servicetitan.seed_sales import totals
from connector_dagster.sandbox.servicetitan.seedkit import DAY
from connector_dagster.sandbox.servicetitan.store import Store

INVOICE_FIELDS = ("syncStatus", "reviewStatus", "sentStatus", "active", "summary")
DEFAULT_ITEMS = ({"skuId": 61001, "quantity": 1},)
TOTAL_TOO_LARGE = f"Quantity x price or cost exceeds the largest amount, {DECIMAL_MAX}."


def move_po(store: Store, po_id: int, status: str) -> Row:
    """Set a PO's status as the warehouse would: Sent, PartiallyReceived, Received
    (items received in full, and its inventory bill created), Exported, Canceled."""
    po = store.tables["purchase-orders"].get(po_id)
    if po is None:
        raise ApiError(404, f"Purchase order {po_id} was not found.")
    if status not in PO_STATUSES:
        raise ApiError(400, "Unknown status.", {"status": list(PO_STATUSES)})
    now = now_us()
    if status == "Canceled":
        po["canceledReason"] = po["canceledReason"] or "Other"
    elif status in ("PartiallyReceived", "Received"):
        for item in po["items"]:
            whole = status == "Received"
            item["quantityReceived"] = item["quantity"] if whole else item["quantity"] / 2
            item["status"] = status
        po["receivedOn"] = now
        po["sentOn"] = po["sentOn"] or now
    elif status == "Sent":
        po["sentOn"] = now
    po["status"] = status
    store.touch("purchase-orders", po)
    billed = any(b["purchaseOrderId"] == po_id for b in store.tables["inventory-bills"].values())
    if status == "Received" and not billed:
        lines = [i for i in po["items"] if i["active"]]
        items = [
            (store.next_id("bill-item"), i["skuId"], i["quantity"], i["cost"], n)
            for n, i in enumerate(lines, 1)
        ]
        bill = bill_from_po(po, store.next_id("bill"), items)
        store.touch("inventory-bills", bill)
        bill["createdOn"] = bill["modifiedOn"]
    return po


def _items(store: Store, spec: Any) -> list[tuple]:
    """Invoice items from `[{"skuId", "quantity"?, "price"?, "cost"?}]`; a 400 naming
    the item's field for an amount that is no number or more than ServiceTitan holds."""
    if not isinstance(spec, list | tuple) or not spec:
        raise ApiError(400, "items must be a non-empty list.", {"items": ["Empty."]})
    items = []
    for order, item in enumerate(spec, 1):
        sku = SKUS.get(item.get("skuId"))
        if sku is None:
            raise ApiError(400, f"Unknown SKU {item.get('skuId')}.", {"items": ["Unknown SKU."]})
        where = f"items[{order - 1}]"
        price = _amount(item.get("price", sku.price), f"{where}.price")
        cost = _amount(item.get("cost", sku.cost), f"{where}.cost")
        quantity = _amount(item.get("quantity", 1), f"{where}.quantity")
        _amount(quantity * max(price, cost), where, TOTAL_TOO_LARGE)
        items.append((store.next_id("invoice-item"), sku.id, quantity, price, cost, order))
    _amount(sum((i[2] * max(i[3], i[4]) for i in items), Decimal(0)), "items", TOTAL_TOO_LARGE)
    return items


def _amount(value: Any, where: str, problem: str = TOO_LARGE) -> Decimal:
    """`value` as an amount ServiceTitan holds; else a 400 naming `where`."""
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except ArithmeticError:
        amount = None
    if isinstance(value, bool) or amount is None or not fits(amount):
        raise ApiError(400, "One or more validation errors occurred.", {where: [problem]})
    return amount


def upsert_invoice(store: Store, body: dict[str, Any]) -> tuple[Row, bool]:
    """Create an invoice with its completed job, or change one (`{"id": …}`).
    Fields: businessUnitId, customerId, invoiceDate, items, syncStatus,
    reviewStatus, sentStatus, active, summary. Totals follow the items."""
    if body.get("syncStatus", "Posted") not in SYNC_STATUSES:
        raise ApiError(400, "Unknown syncStatus.", {"syncStatus": list(SYNC_STATUSES)})
    if body.get("businessUnitId", 501) not in REGION_BY_BU:
        raise ApiError(
            400, "Unknown business unit.", {"businessUnitId": list(map(str, REGION_BY_BU))}
        )
    try:
        invoice_date = parse_us(body["invoiceDate"]) if "invoiceDate" in body else None
    except ValueError:
        raise ApiError(
            400, "invoiceDate is not a date.", {"invoiceDate": ["Use YYYY-MM-DD or RFC 3339."]}
        ) from None
    created = "id" not in body
    inv = None if created else store.tables["invoices"].get(body["id"])
    if not created and inv is None:
        raise ApiError(404, f"Invoice {body['id']} was not found.")
    items = _items(store, body.get("items", DEFAULT_ITEMS)) if "items" in body or created else None
    if inv is None:
        inv = _new_invoice(store, body)
    for name in INVOICE_FIELDS:
        if name in body:
            inv[name] = body[name]
    if "businessUnitId" in body:
        inv["businessUnitId"] = body["businessUnitId"]
    if invoice_date is not None:
        inv["invoiceDate"], inv["dueDate"] = invoice_date, invoice_date + 30 * DAY
    if items is not None:
        inv["items"] = items
    paid = inv["total"] - inv["balance"] if "total" in inv else Decimal(0)
    sub, tax = totals(inv["items"], REGION_BY_BU[inv["businessUnitId"]].tax_rate)
    inv.update(subTotal=sub, salesTax=tax, total=sub + tax, balance=sub + tax - paid)
    store.touch("invoices", inv)
    job = store.tables["jobs"].get(inv["jobId"])
    if job is not None and job["invoiceId"] == inv["id"]:
        job.update(total=inv["total"], businessUnitId=inv["businessUnitId"])
        store.touch("jobs", job)
    return inv, created


def _new_invoice(store: Store, body: dict[str, Any]) -> Row:
    now = now_us()
    bu = body.get("businessUnitId", next(iter(REGION_BY_BU)))
    customers = store.tables["customers"]
    customer = customers.get(body.get("customerId")) or next(
        c for c in customers.values() if c["businessUnitId"] == bu
    )
    invoice_id, job_id = store.next_id("invoice"), store.next_id("job")
    today = now - now % DAY
    job = {
        "id": job_id,
        "invoiceId": invoice_id,
        "customerId": customer["id"],
        "locationId": customer["locationId"],
        "businessUnitId": bu,
        "jobTypeId": 31,
        "jobStatus": "Completed",
        "priority": "Normal",
        "completedOn": now,
        "createdOn": now,
        "noCharge": False,
        "total": Decimal(0),
        "summary": body.get("summary", "Sandbox job"),
        "soldById": 2001,
        "active": True,
    }
    store.touch("jobs", job)
    return {
        "id": invoice_id,
        "jobId": job_id,
        "customerId": customer["id"],
        "businessUnitId": bu,
        "invoiceDate": today,
        "dueDate": today + 30 * DAY,
        "createdOn": now,
        "syncStatus": "Posted",
        "reviewStatus": "Reviewed",
        "sentStatus": "Sent",
        "active": True,
        "summary": "Sandbox invoice",
        "items": [],
        "paidOn": None,
        "adjustmentToId": None,
        "batchId": None,
        "technicianId": 2001,
        "exportId": None,
        "externalMessage": None,
    }


def touch_journal_entry(store: Store, je_id: str) -> Row:
    """Someone changed the entry in ServiceTitan: a new versionId, out of sync."""
    je = store.tables["journal-entries"].get(je_id.lower())
    if je is None:
        raise ApiError(404, f"Journal entry {je_id} was not found.")
    bump(store, je)
    return je
