"""IFS purchase order -> ServiceTitan purchase order: pure mapping, no I/O.

Reads like the mapping spec: vendor, site (business unit, inventory location,
ship-to), tax code (tax zone and rate), part (SKU) and PO type come from the
connection's mapping tables; amounts, vendor codes and descriptions are
preserved; the IFS order number is written as provenance into `memo` and
`vendorInvoiceNumber` so the record can be found again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from connector_dagster.engine.problems import Problems
from connector_dagster.engine.records import Item, Mapped
from connector_dagster.kits.purchase_orders.provenance import (
    provenance_marker,
    raised_in_servicetitan,
)
from connector_dagster.lib.mapping import Mappings
from connector_dagster.lib.numbers import decimal_or_none

if TYPE_CHECKING:
    from connector_dagster.defs.purchase_orders.settings import PurchaseOrderSettings

CENT = Decimal("0.01")


def map_item(item: Item, maps: Mappings, settings: PurchaseOrderSettings) -> Mapped:
    """One IFS PO read (header and lines): one that F5 made from a ServiceTitan PO is
    linked to it, never sent back; others are ignored unless their state syncs; a
    cancelled PO cancels its ServiceTitan PO; any other becomes the ServiceTitan payload."""
    header, lines = item.data["header"], item.data["lines"]
    raised = raised_in_servicetitan(header.get("st_reference"))
    if raised is not None:
        return Mapped({"servicetitan_po": raised[0], "connection": raised[1]}, op="link")
    if header["Objstate"] not in settings.states:
        return Mapped(None, op="ignore")
    if header["Objstate"] == "Cancelled":
        return Mapped({"canceledReason": "Other"}, op="cancel")
    return map_purchase_order(header, lines, maps, settings.currency, settings.locked_states)


def _line_label(line: Mapping[str, Any]) -> str:
    return f"line {line.get('LineNo')}/{line.get('ReleaseNo')}"


def map_purchase_order(
    header: Mapping[str, Any],
    lines: Sequence[Mapping[str, Any]],
    maps: Mappings,
    currency: str = "USD",
    locked_states: Sequence[str] = ("Received", "Closed"),
) -> Mapped:
    """Map one IFS PO and its lines (cancelled lines left out); every problem names
    the PO, the field and the fix. Amounts stay Decimal, sent exactly. A fix to make
    in IFS is only named where IFS still lets the PO change: for one in a locked state
    (Closed, say) the fix is in ServiceTitan by hand."""
    order_no = str(header["OrderNo"])
    po = f"PO {order_no!r}"
    problems = Problems(po)
    state = header.get("Objstate")

    def in_ifs(fix: str) -> str:
        if state not in locked_states:
            return fix
        return (
            f"IFS no longer lets a {state} PO change, so it cannot be corrected there: "
            "enter it in ServiceTitan by hand, then resolve this failed record with a note"
        )

    vendor_no = header.get("VendorNo")
    vendor_id = (
        problems.mapped(maps, "vendors", vendor_no, "VendorNo", "vendor") if vendor_no else None
    )
    if not vendor_no:
        problems.append(
            ("validation", f"{po}: VendorNo is empty; " + in_ifs("set the supplier in IFS"))
        )

    site = problems.mapped(maps, "sites", header.get("Contract"), "Contract (site)", "site")

    code = header.get("CurrencyCode")
    if code and code != currency:
        problems.append(
            (
                "validation",
                f"{po}: CurrencyCode {code!r} is not the ServiceTitan tenant's currency "
                f"{currency!r}; ServiceTitan POs carry no currency, so it is not synced: "
                "raise it in the tenant's currency or enter it in ServiceTitan by hand",
            )
        )

    active = [ln for ln in lines if ln.get("Objstate") != "Cancelled"]
    tax_code = header.get("TaxCode") or next(
        (ln.get("TaxCode") for ln in active if ln.get("TaxCode")), None
    )
    tax = problems.mapped(maps, "tax_codes", tax_code, "TaxCode", "tax zone") if tax_code else None
    rate = decimal_or_none(tax["rate"]) if tax else Decimal(0)

    po_type = problems.mapped(maps, "po_types", "default", "purchase-order type", "PO type")

    if not active:
        problems.append(
            (
                "validation",
                f"{po}: has no lines"
                + (" that are not cancelled" if lines else "")
                + "; ServiceTitan needs at least one: "
                + in_ifs("cancel the PO in IFS instead"),
            )
        )

    items: list[dict[str, Any]] = []
    subtotal = Decimal(0)
    for line in sorted(active, key=lambda ln: (_num(ln.get("LineNo")), _num(ln.get("ReleaseNo")))):
        label = _line_label(line)
        part_no = line.get("PartNo")
        qty = decimal_or_none(line.get("BuyQtyDue"))
        price = decimal_or_none(line.get("BuyUnitPrice"))
        sku = None
        if not part_no:
            problems.append(
                (
                    "validation",
                    f"{po} {label}: PartNo is empty; ServiceTitan PO items need a SKU: "
                    + in_ifs("give the line a part in IFS"),
                )
            )
        else:
            sku = problems.mapped(maps, "parts", part_no, f"{label} PartNo", "SKU")
        if qty is None or qty <= 0:
            problems.append(
                (
                    "validation",
                    f"{po} {label}: BuyQtyDue {line.get('BuyQtyDue')!r} must be a positive "
                    "number; " + in_ifs("correct the quantity in IFS"),
                )
            )
        if price is None or price < 0:
            problems.append(
                (
                    "validation",
                    f"{po} {label}: BuyUnitPrice {line.get('BuyUnitPrice')!r} must be a "
                    "number of zero or more; "
                    + in_ifs("correct the price in IFS (credits are not POs)"),
                )
            )
        if qty is not None and price is not None and sku is not None:
            subtotal += qty * price
            items.append(
                {
                    "skuId": sku,
                    "description": str(line.get("Description") or part_no)[:255],
                    "vendorPartNumber": str(part_no),
                    "quantity": qty,
                    "cost": price,
                }
            )

    if problems:
        return Mapped(None, problems)

    assert site is not None and rate is not None and vendor_id is not None
    tax_amount = (subtotal * rate).quantize(CENT, rounding=ROUND_HALF_UP)
    order_date = str(header["OrderDate"])[:10]
    required = str(header.get("WantedReceiptDate") or order_date)[:10]
    ship_to = site["ship_to"]
    payload = {
        "vendorId": vendor_id,
        "typeId": po_type,
        "businessUnitId": site["business_unit_id"],
        "inventoryLocationId": site["inventory_location_id"],
        "shipTo": {
            "description": ship_to["description"],
            "address": {
                k: ship_to[k] for k in ("street", "unit", "city", "state", "zip", "country")
            },
        },
        "vendorInvoiceNumber": order_no,
        "impactsTechnicianPayroll": False,
        "memo": provenance_marker(order_no),
        "date": f"{order_date}T00:00:00Z",
        "requiredOn": f"{required}T00:00:00Z",
        "tax": tax_amount,
        "shipping": Decimal("0.00"),
        "items": items,
    }
    return Mapped(payload)


def update_payload(payload: Mapping[str, Any], current_items: Sequence[Mapping[str, Any]]) -> dict:
    """The PATCH body for an existing ST PO: every line, in order, with the ids of the
    active lines it replaces (ServiceTitan inactivates the active lines not listed)."""
    active = sorted(
        (i for i in current_items if i.get("status") != "Inactive"), key=lambda i: i["id"]
    )
    items = []
    for position, item in enumerate(payload["items"]):
        body = dict(item)
        if position < len(active):
            body["id"] = active[position]["id"]
        items.append(body)
    body = {k: v for k, v in payload.items() if k != "items"}
    body["items"] = items
    return body


def _num(value: Any) -> Decimal:
    return decimal_or_none(value) or Decimal(0)
