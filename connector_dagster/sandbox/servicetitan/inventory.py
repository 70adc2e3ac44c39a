"""ServiceTitan inventory API (`/inventory/v2/tenant/{tenant}/…`), purchase orders:
list, get, create, PATCH (where `items` replaces the active lines), cancellation,
and the purchase-order export feed. Vendors, PO types and warehouses are in
`references`."""

from __future__ import annotations

from connector_dagster.sandbox.servicetitan.body import require_valid
from connector_dagster.sandbox.servicetitan.common import ApiError, Row, dec, not_found, now_us
from connector_dagster.sandbox.servicetitan.po_model import (
    CANCEL_PO,
    CREATE_PO,
    LOCKED_STATUSES,
    PO_STATUSES,
    UPDATE_PO,
    apply_header,
    check_refs,
    check_total,
    locked,
    new_item,
    render_po,
)
from connector_dagster.sandbox.servicetitan.query import (
    STANDARD_DATES,
    STANDARD_SORTS,
    F,
    page,
    select,
    sort_rows,
)
from connector_dagster.sandbox.servicetitan.store import Call, export

_SORTS = STANDARD_SORTS
_DATES = STANDARD_DATES


def list_pos(c: Call) -> Row:
    filters = (
        *_DATES,
        F("status", "enum", lambda r: r["status"], PO_STATUSES),
        F("number", "eqi", lambda r: r["number"]),
        F("jobId", "eq", lambda r: r["jobId"]),
        F("jobIds", "in", lambda r: r["jobId"]),
        F("technicianId", "eq", lambda r: r["technicianId"]),
        F("projectId", "eq", lambda r: r["projectId"]),
        F("dateOnOrAfter", "since", lambda r: r["date"]),
        F("dateBefore", "before", lambda r: r["date"]),
        F("sentOnOrAfter", "since", lambda r: r["sentOn"]),
        F("sentBefore", "before", lambda r: r["sentOn"]),
    )
    rows = c.store.listed(
        "purchase-orders",
        c.q,
        lambda: sort_rows(select(c.store.tables["purchase-orders"], c.q, filters), c.q, _SORTS),
    )
    return page(rows, c.q, render_po, c.page_max)


def _po(c: Call) -> Row:
    po_id = c.path_int("id", "Purchase order")
    po = c.store.tables["purchase-orders"].get(po_id)
    if po is None:
        raise not_found(f"Purchase order {po_id}")
    return po


def get_po(c: Call) -> Row:
    return render_po(_po(c))


def create_po(c: Call) -> Row:
    body = require_valid(c.body, CREATE_PO)
    check_refs(c.store, body)
    check_total(body)
    if not body["items"]:
        raise ApiError(400, "A purchase order needs at least one item.", {"items": ["Empty."]})
    now = now_us()
    c.store.counters["po-number"] += 1
    po: Row = {
        "id": c.store.next_id("purchase-order"),
        "number": f"PO-{c.store.counters['po-number']:06d}",
        "status": "Pending",
        "invoiceId": None,
        "batchId": None,
        "sentOn": None,
        "receivedOn": None,
        "createdOn": now,
        "canceledReason": None,
        "jobId": None,
        "technicianId": None,
        "projectId": None,
        "budgetCodeId": None,
        "vendorDocumentNumber": "",
        "summary": "",
        "items": [new_item(c.store, item, now) for item in body["items"]],
    }
    apply_header(po, body)
    c.store.touch("purchase-orders", po)
    return {"id": po["id"]}


def update_po(c: Call) -> Row:
    po = _po(c)
    body = require_valid(c.body, UPDATE_PO)
    if po["status"] in LOCKED_STATUSES:
        raise locked(po)
    check_refs(c.store, body)
    check_total(body, po)
    now = now_us()
    if "items" in body:
        active = {i["id"]: i for i in po["items"] if i["active"]}
        unknown = {
            f"items[{n}].id": [f"Item {item['id']} is not an active line of {po['number']}."]
            for n, item in enumerate(body["items"])
            if item.get("id") and item["id"] not in active
        }
        if unknown:
            raise ApiError(400, "One or more validation errors occurred.", unknown)
        listed = set()
        for item in body["items"]:
            if not item.get("id"):
                po["items"].append(new_item(c.store, item, now))
                continue
            line = active[item["id"]]
            listed.add(line["id"])
            for name in ("skuId", "description", "vendorPartNumber", "budgetCodeId"):
                line[name] = item.get(name, line[name])
            line["quantity"], line["cost"] = dec(item["quantity"]), dec(item["cost"])
            line["modifiedOn"] = now
        for line in active.values():
            if line["id"] not in listed:
                line["active"] = False
                line["modifiedOn"] = now
    apply_header(po, body)
    c.store.touch("purchase-orders", po)
    return {"id": po["id"]}


def cancel_po(c: Call) -> Row:
    po = _po(c)
    body = require_valid(c.body if c.body is not None else {}, CANCEL_PO)
    if po["status"] in LOCKED_STATUSES:
        raise locked(po)
    po["status"] = "Canceled"
    po["canceledReason"] = body.get("canceledReason") or "Other"
    for item in po["items"]:
        item["status"] = "Canceled"
    c.store.touch("purchase-orders", po)
    return {"id": po["id"]}


def export_pos(c: Call) -> Row:
    feed = export(c.store, "purchase-orders", c.q, c.page_max)
    feed["data"] = [render_po(po) for po in feed["data"]]
    return feed


# --- vendors, PO types, warehouses ---


ROUTES = (
    ("GET", "inventory", "purchase-orders", list_pos),
    ("POST", "inventory", "purchase-orders", create_po),
    ("GET", "inventory", "purchase-orders/{id}", get_po),
    ("PATCH", "inventory", "purchase-orders/{id}", update_po),
    ("PATCH", "inventory", "purchase-orders/{id}/cancellation", cancel_po),
    ("GET", "inventory", "export/purchase-orders", export_pos),
)
