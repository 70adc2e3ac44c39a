"""ServiceTitan accounting API (`/accounting/v2/tenant/{tenant}/…`), invoices:
list with items, `markasexported` (never overwriting another export), and the
invoice and invoice-item export feeds. Money and quantities are strings here.
Bills, journal entries, tax zones and GL accounts have their own modules."""

from __future__ import annotations

import json

from connector_dagster.sandbox.servicetitan.body import Field, check_body
from connector_dagster.sandbox.servicetitan.common import (
    ApiError,
    Row,
    fmt_day,
    fmt_ts,
    money,
    qty,
)
from connector_dagster.sandbox.servicetitan.query import (
    STANDARD_DATES,
    STANDARD_SORTS,
    F,
    page,
    select,
    sort_rows,
)
from connector_dagster.sandbox.servicetitan.refdata import (
    GL_REFS,
    ITEM_ACCOUNTS,
    JOB_TYPES,
    REGION_BY_BU,
    SKUS,
)
from connector_dagster.sandbox.servicetitan.references import named
from connector_dagster.sandbox.servicetitan.store import Call, Store, export

SYNC_STATUSES = ("Pending", "Posted", "Exported")
REVIEW_STATUSES = (
    "NeedsReview",
    "OnHold",
    "Reviewed",
    "PendingApproval",
    "Rejected",
    "ReadyForBilling",
    "Invoiced",
)
INVOICE_CONFIGURATIONS = (
    "JobInvoice",
    "ProjectInvoice",
    "CounterSales",
    "MembershipInvoice",
    "InterestChargeInvoice",
    "ARImportInvoice",
)
_SORTS = STANDARD_SORTS
_DATES = STANDARD_DATES
MARK_INVOICE = {
    "invoiceId": Field("int", True),
    "externalId": Field("str", nullable=True),
    "externalMessage": Field("str", nullable=True),
}
# The invoice header of webhook payloads: InvoiceResponse without these.
NOT_IN_EVENTS = frozenset(
    (
        "summary",
        "items",
        "customFields",
        "active",
        "discountTotal",
        "importId",
        "exportId",
        "materialSkuId",
        "membershipId",
        "paidOn",
        "invoiceConfiguration",
    )
)


def render_invoice_item(inv: Row, item: tuple, store: Store) -> Row:
    item_id, sku_id, quantity, price, cost, order = item
    sku = SKUS[sku_id]
    sales, cost_of_sale, asset = ITEM_ACCOUNTS[sku.type]
    stocked = sku.type != "Service"
    warehouse = REGION_BY_BU[inv["businessUnitId"]].st_warehouse_id if stocked else None
    return {
        "id": item_id,
        "description": sku.name,
        "quantity": qty(quantity),
        "cost": money(cost),
        "totalCost": money(quantity * cost),
        "budgetCodeId": None,
        "inventoryLocationId": warehouse,
        "inventoryLocation": store.tables["warehouses"][warehouse]["name"] if warehouse else None,
        "price": money(price),
        "type": sku.type,
        "skuName": sku.code,
        "skuId": sku_id,
        "total": money(quantity * price),
        "inventory": stocked,
        "taxable": stocked,
        "isChargeable": True,
        "generalLedgerAccount": GL_REFS[sales],
        "costOfSaleAccount": GL_REFS.get(cost_of_sale) if cost_of_sale else None,
        "assetAccount": GL_REFS.get(asset) if asset else None,
        "membershipTypeId": 0,
        "itemGroup": None,
        "displayName": sku.name,
        "soldHours": float(quantity) if not stocked else None,
        "createdOn": fmt_ts(inv["createdOn"]),
        "modifiedOn": fmt_ts(inv["modifiedOn"]),
        "serviceDate": fmt_day(inv["invoiceDate"]),
        "order": order,
        "businessUnit": named(store, "business-units", inv["businessUnitId"]),
        "createdById": 10,
        "displayInAmount": True,
        "importId": None,
        "exportId": None,
        "inventoryStatus": "Used" if stocked else None,
        "addOn": False,
        "memberPrice": None,
        "technicianId": inv["technicianId"],
        "installedEquipmentId": None,
        "estimateItemId": None,
    }


def invoice_header(inv: Row, store: Store) -> Row:
    """The invoice fields shared by the API rows and the webhook payloads."""
    region = REGION_BY_BU[inv["businessUnitId"]]
    zone = store.tables["tax-zones"][region.st_tax_zone_id]
    customer = store.tables["customers"][inv["customerId"]]
    job_row = store.tables["jobs"].get(inv["jobId"])
    job_type = JOB_TYPES[job_row["jobTypeId"]] if job_row else None
    job = {"id": inv["jobId"], "number": str(inv["jobId"]), "type": job_type}
    batch = inv["batchId"]
    adjustment = inv["adjustmentToId"] is not None
    return {
        "id": inv["id"],
        "syncStatus": inv["syncStatus"],
        "budgetCodeId": None,
        "referenceNumber": str(inv["jobId"]) if inv["jobId"] else str(inv["id"]),
        "invoiceDate": fmt_day(inv["invoiceDate"]),
        "dueDate": fmt_day(inv["dueDate"]),
        "subTotal": money(inv["subTotal"]),
        "salesTax": money(inv["salesTax"]),
        "salesTaxCode": {"id": zone["id"], "name": zone["name"], "taxRate": float(region.tax_rate)},
        "taxZoneId": zone["id"],
        "total": money(inv["total"]),
        "balance": money(inv["balance"]),
        "invoiceType": {"id": 2, "name": "Adjustment"}
        if adjustment
        else {"id": 1, "name": "Standard"},
        "customer": {"id": customer["id"], "name": customer["name"]},
        "customerAddress": dict(customer["address"]),
        "location": {"id": customer["locationId"], "name": "Home"},
        "locationAddress": dict(customer["address"]),
        "businessUnit": named(store, "business-units", inv["businessUnitId"]),
        "termName": "Net 30",
        "createdBy": "dispatch",
        "batch": {"id": batch, "number": str(batch), "name": "Daily batch"} if batch else None,
        "depositedOn": None,
        "createdOn": fmt_ts(inv["createdOn"]),
        "modifiedOn": fmt_ts(inv["modifiedOn"]),
        "adjustmentToId": inv["adjustmentToId"],
        "job": job if inv["jobId"] else None,
        "projectId": None,
        "royalty": None,
        "employeeInfo": None,
        "commissionEligibilityDate": None,
        "sentStatus": inv["sentStatus"],
        "reviewStatus": inv["reviewStatus"],
        "assignedTo": None,
    }


def render_invoice(inv: Row, store: Store) -> Row:
    row = invoice_header(inv, store)
    row.update(
        summary=inv["summary"],
        items=[render_invoice_item(inv, item, store) for item in inv["items"]],
        customFields=[],
        active=inv["active"],
        discountTotal="0.00",
        importId=None,
        exportId=inv["exportId"],
        materialSkuId=None,
        membershipId=None,
        paidOn=fmt_ts(inv["paidOn"]),
        invoiceConfiguration="JobInvoice",
    )
    return row


def event_invoice(inv: Row, store: Store) -> Row:
    """The `invoice` of a `tn.acc.invoice-*` webhook."""
    return {k: v for k, v in invoice_header(inv, store).items() if k not in NOT_IN_EVENTS}


def list_invoices(c: Call) -> Row:
    state = c.q.get("activeState") or "ActiveOnly"
    if state not in ("ActiveOnly", "InactiveOnly", "All"):
        raise ApiError(400, "Invalid activeState.", {"activeState": [f"'{state}' is not valid."]})
    filters = (
        *_DATES,
        F("statuses", "enum", lambda r: r["syncStatus"], SYNC_STATUSES),
        F("reviewStatuses", "enum", lambda r: r["reviewStatus"], REVIEW_STATUSES),
        F("batchId", "eq", lambda r: r["batchId"]),
        F("batchNumber", "eq", lambda r: r["batchId"]),
        F("invoiceConfigurations", "enum", lambda r: "JobInvoice", INVOICE_CONFIGURATIONS),
        F("jobId", "eq", lambda r: r["jobId"]),
        F("jobNumber", "eqi", lambda r: str(r["jobId"])),
        F("number", "eqi", lambda r: str(r["jobId"] or r["id"])),
        F("businessUnitId", "eq", lambda r: r["businessUnitId"]),
        F("customerId", "eq", lambda r: r["customerId"]),
        F("adjustmentToId", "eq", lambda r: r["adjustmentToId"]),
        F("invoicedOnOrAfter", "since", lambda r: r["invoiceDate"]),
        F("invoicedOnBefore", "before", lambda r: r["invoiceDate"]),
        F("dueDateOnOrAfter", "since", lambda r: r["dueDate"]),
        F("dueDateBefore", "before", lambda r: r["dueDate"]),
        F("totalGreater", "dec>=", lambda r: r["total"]),
        F("totalLess", "dec<=", lambda r: r["total"]),
    )

    def listed() -> list[Row]:
        rows = select(c.store.tables["invoices"], c.q, filters)
        if state != "All":
            rows = [r for r in rows if r["active"] is (state == "ActiveOnly")]
        return sort_rows(rows, c.q, {**_SORTS, "InvoiceDate": lambda r: r["invoiceDate"]})

    rows = c.store.listed("invoices", c.q, listed)
    return page(rows, c.q, lambda r: render_invoice(r, c.store), c.page_max)


def mark_invoice(
    store: Store, inv: Row, external_id: str | None, message: str | None
) -> str | None:
    """Mark one invoice exported; the reason it was not, or None.

    A posted invoice becomes `Exported` with `exportId` = `external_id`. One
    already exported under another external id (someone else's export, or
    none) is left as it is and refused, so that no export is overwritten;
    marking it again with the same external id succeeds and changes nothing
    but the message."""
    if inv["syncStatus"] == "Pending":
        return (
            f"Invoice {inv['id']} is not posted yet (syncStatus Pending); post it in "
            "ServiceTitan before marking it exported."
        )
    if inv["syncStatus"] == "Exported" and inv["exportId"] != external_id:
        return (
            f"Invoice {inv['id']} is already exported with externalId "
            f"{json.dumps(inv['exportId'])}; it was left unchanged."
        )
    if (inv["syncStatus"], inv["exportId"], inv["externalMessage"]) != (
        "Exported",
        external_id,
        message,
    ):
        inv.update(syncStatus="Exported", exportId=external_id, externalMessage=message)
        store.touch("invoices", inv)
    return None


def mark_invoices_exported(c: Call) -> list[Row]:
    if not isinstance(c.body, list):
        raise ApiError(400, "A JSON array is required.", {"body": ["Expected an array."]})
    errors = {}
    for n, row in enumerate(c.body):
        errors.update({f"[{n}].{k}": v for k, v in check_body(row, MARK_INVOICE).items()})
    if errors:
        raise ApiError(400, "One or more validation errors occurred.", errors)
    results = []
    for row in c.body:
        inv = c.store.tables["invoices"].get(row["invoiceId"])
        if inv is None:
            error = f"Invoice {row['invoiceId']} was not found."
        else:
            error = mark_invoice(c.store, inv, row.get("externalId"), row.get("externalMessage"))
        results.append(
            {"invoiceId": row["invoiceId"], "success": error is None, "errorMessage": error}
        )
    return results


def export_invoices(c: Call) -> Row:
    feed = export(c.store, "invoices", c.q, c.page_max)
    feed["data"] = [render_invoice(inv, c.store) for inv in feed["data"]]
    return feed


def export_invoice_items(c: Call) -> Row:
    feed = export(c.store, "invoices", c.q, c.page_max, weight=lambda r: len(r["items"]))
    feed["data"] = [
        {**render_invoice_item(inv, item, c.store), "active": inv["active"], "invoiceId": inv["id"]}
        for inv in feed["data"]
        for item in inv["items"]
    ]
    return feed


ROUTES = (
    ("GET", "accounting", "invoices", list_invoices),
    ("POST", "accounting", "invoices/markasexported", mark_invoices_exported),
    ("GET", "accounting", "export/invoices", export_invoices),
    ("GET", "accounting", "export/invoice-items", export_invoice_items),
)
