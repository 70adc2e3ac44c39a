"""Purchase orders of the ServiceTitan simulator: request schemas (Create/Update
PurchaseOrderRequest), reference checks, how a request changes a PO, and the
response shape (memo as `summary`, vendorInvoiceNumber as `vendorDocumentNumber`,
`total` = active lines + tax + shipping)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connector_dagster.sandbox.servicetitan.body import Field
from connector_dagster.sandbox.servicetitan.common import (
    DECIMAL_MAX,
    ApiError,
    Row,
    dec,
    fits,
    fmt_day,
    fmt_ts,
    num,
    parse_us,
)
from connector_dagster.sandbox.servicetitan.refdata import SKUS
from connector_dagster.sandbox.servicetitan.store import Store

PO_STATUSES = ("Pending", "Sent", "PartiallyReceived", "Received", "Exported", "Canceled")


LOCKED_STATUSES = ("Received", "Exported", "Canceled")


CANCEL_REASONS = ("NotRequired", "Duplicate", "Accidental", "VendorIssue", "Other", "JobCanceled")


_ADDRESS = {k: Field("str", True) for k in ("street", "unit", "city", "state", "zip", "country")}


_SHIP_TO = {"description": Field("str", True), "address": Field("object", True, fields=_ADDRESS)}


_ITEM = {
    "skuId": Field("int", True),
    "description": Field("str", True),
    "vendorPartNumber": Field("str", True),
    "quantity": Field("num", True),
    "cost": Field("num", True),
    "budgetCodeId": Field("int", nullable=True),
}


_HEADER = {
    "vendorId": Field("int", True),
    "typeId": Field("int", True),
    "businessUnitId": Field("int", True),
    "inventoryLocationId": Field("int", True),
    "jobId": Field("int", nullable=True),
    "technicianId": Field("int", nullable=True),
    "projectId": Field("int", nullable=True),
    "budgetCodeId": Field("int", nullable=True),
    "shipTo": Field("object", True, fields=_SHIP_TO),
    "vendorInvoiceNumber": Field("str", nullable=True),
    "impactsTechnicianPayroll": Field("bool", True),
    "memo": Field("str", nullable=True),
    "date": Field("datetime", True),
    "requiredOn": Field("datetime", True),
    "tax": Field("num", True),
    "shipping": Field("num", True),
}


CREATE_PO = {**_HEADER, "items": Field("array", True, fields=_ITEM)}


# PATCH: everything optional; an item with `id` 0 (or none) is a new line.
UPDATE_PO = {
    **{k: Field(f.kind, False, f.nullable, f.fields) for k, f in _HEADER.items()},
    "items": Field("array", fields={**_ITEM, "id": Field("int")}),
}


CANCEL_PO = {"canceledReason": Field("enum", values=CANCEL_REASONS)}


def render_item(item: Row) -> Row:
    sku = SKUS[item["skuId"]]
    return {
        "id": item["id"],
        "skuId": item["skuId"],
        "description": item["description"],
        "createdOn": fmt_ts(item["createdOn"]),
        "modifiedOn": fmt_ts(item["modifiedOn"]),
        "skuName": sku.name,
        "skuCode": sku.code,
        "skuType": sku.type,
        "vendorPartNumber": item["vendorPartNumber"],
        "quantity": num(item["quantity"]),
        "quantityReceived": num(item["quantityReceived"]),
        "cost": num(item["cost"]),
        "total": num(item["quantity"] * item["cost"]),
        "serialNumbers": [],
        "status": item["status"],
        "chargeable": item["chargeable"],
        "budgetCodeId": item["budgetCodeId"],
    }


def po_total(po: Row) -> Decimal:
    """Active lines + tax + shipping."""
    lines = sum((i["quantity"] * i["cost"] for i in po["items"] if i["active"]), Decimal(0))
    return lines + po["tax"] + po["shipping"]


def render_po(po: Row) -> Row:
    return {
        "id": po["id"],
        "number": po["number"],
        "invoiceId": po["invoiceId"],
        "jobId": po["jobId"],
        "projectId": po["projectId"],
        "status": po["status"],
        "typeId": po["typeId"],
        "vendorId": po["vendorId"],
        "technicianId": po["technicianId"],
        "shipTo": dict(po["shipTo"]),
        "businessUnitId": po["businessUnitId"],
        "inventoryLocationId": po["inventoryLocationId"],
        "batchId": po["batchId"],
        "budgetCodeId": po["budgetCodeId"],
        "vendorDocumentNumber": po["vendorDocumentNumber"],
        "date": fmt_day(po["date"]),
        "requiredOn": fmt_day(po["requiredOn"]),
        "sentOn": fmt_ts(po["sentOn"]),
        "receivedOn": fmt_ts(po["receivedOn"]),
        "createdOn": fmt_ts(po["createdOn"]),
        "modifiedOn": fmt_ts(po["modifiedOn"]),
        "total": num(po_total(po)),
        "tax": num(po["tax"]),
        "shipping": num(po["shipping"]),
        "summary": po["summary"],
        "items": [render_item(i) for i in po["items"] if i["active"]],
        "customFields": [],
    }


def check_refs(store: Store, body: dict[str, Any]) -> None:
    """400 for unknown or inactive vendor, type, business unit, location, job or SKU."""
    errors: dict[str, list[str]] = {}
    refs = (
        ("vendorId", "vendors", "Vendor"),
        ("typeId", "purchase-order-types", "Purchase order type"),
        ("businessUnitId", "business-units", "Business unit"),
        ("inventoryLocationId", "warehouses", "Inventory location"),
    )
    for name, table, what in refs:
        if name in body:
            row = store.tables[table].get(body[name])
            if row is None:
                errors[name] = [f"{what} {body[name]} does not exist."]
            elif not row["active"]:
                errors[name] = [f"{what} {body[name]} is inactive."]
    if body.get("jobId") is not None and body["jobId"] not in store.tables["jobs"]:
        errors["jobId"] = [f"Job {body['jobId']} does not exist."]
    for i, item in enumerate(body.get("items") or []):
        sku = store.tables["skus"].get(item["skuId"])
        if sku is None or sku["type"] not in ("Material", "Equipment") or not sku["active"]:
            errors[f"items[{i}].skuId"] = [
                f"SKU {item['skuId']} is not an active material or equipment."
            ]
        if item["quantity"] <= 0:
            errors[f"items[{i}].quantity"] = ["Quantity must be greater than 0."]
        if item["cost"] < 0:
            errors[f"items[{i}].cost"] = ["Cost cannot be negative."]
    for name in ("tax", "shipping"):
        if isinstance(body.get(name), int | float) and body[name] < 0:
            errors[name] = [f"{name.capitalize()} cannot be negative."]
    if errors:
        raise ApiError(400, "One or more validation errors occurred.", errors)


def new_item(store: Store, item: dict[str, Any], now: int) -> Row:
    return {
        "id": store.next_id("po-item"),
        "skuId": item["skuId"],
        "description": item["description"],
        "vendorPartNumber": item["vendorPartNumber"],
        "quantity": dec(item["quantity"]),
        "quantityReceived": Decimal(0),
        "cost": dec(item["cost"]),
        "status": "Pending",
        "chargeable": True,
        "budgetCodeId": item.get("budgetCodeId"),
        "active": True,
        "createdOn": now,
        "modifiedOn": now,
    }


def apply_header(po: Row, body: dict[str, Any]) -> None:
    for name in (
        "vendorId",
        "typeId",
        "businessUnitId",
        "inventoryLocationId",
        "jobId",
        "technicianId",
        "projectId",
        "budgetCodeId",
        "impactsTechnicianPayroll",
    ):
        if name in body:
            po[name] = body[name]
    if "shipTo" in body:
        po["shipTo"] = {**body["shipTo"]["address"]}
        po["shipToDescription"] = body["shipTo"]["description"]
    if "vendorInvoiceNumber" in body:
        po["vendorDocumentNumber"] = body["vendorInvoiceNumber"] or ""
    if "memo" in body:
        po["summary"] = body["memo"] or ""
    for name in ("date", "requiredOn"):
        if name in body:
            po[name] = parse_us(body[name])
    for name in ("tax", "shipping"):
        if name in body:
            po[name] = dec(body[name])


def check_total(body: dict[str, Any], po: Row | None = None) -> None:
    """400 when a line's quantity x cost, or the PO's total (`po` with `body` applied,
    whose `items` replace its active lines), is more than ServiceTitan holds."""
    errors: dict[str, list[str]] = {}
    items = body["items"] if "items" in body else [i for i in po["items"] if i["active"]]
    lines = Decimal(0)
    for n, item in enumerate(items):
        amount = dec(item["quantity"]) * dec(item["cost"])
        if not fits(amount):
            errors[f"items[{n}]"] = [
                f"Quantity x cost ({amount:.3E}) exceeds the largest amount, {DECIMAL_MAX}."
            ]
        lines += amount
    charges = [
        dec(body[name]) if name in body else po[name] if po else Decimal(0)
        for name in ("tax", "shipping")
    ]
    total = lines + sum(charges, Decimal(0))
    if not errors and not fits(total):
        errors["total"] = [
            f"Lines, tax and shipping ({total:.3E}) exceed the largest amount, {DECIMAL_MAX}."
        ]
    if errors:
        raise ApiError(400, "One or more validation errors occurred.", errors)


def locked(po: Row) -> ApiError:
    return ApiError(
        400,
        f"Purchase order {po['number']} is {po['status']} and can no longer be changed.",
        {"status": [f"Purchase orders in status {po['status']} cannot be modified."]},
    )
