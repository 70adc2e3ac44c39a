"""IFS purchase order -> ServiceTitan purchase order: pure mapping, no I/O.

Reads like the mapping spec: vendor, site (business unit, inventory location,
ship-to), tax code (tax zone and rate), part (SKU) and PO type come from the
connection's mapping tables; amounts, vendor codes and descriptions are
preserved; the IFS order number is written as provenance into `memo` and
`vendorInvoiceNumber` so the record can be found again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from connector_dagster.engine.spec import Item, Mapped
from connector_dagster.lib.mapping import Mappings, Table

if TYPE_CHECKING:
    from connector_dagster.defs.purchase_orders.settings import PurchaseOrderSettings

CENT = Decimal("0.01")
MARKER_PREFIX = "IFS PO "


def provenance_marker(order_no: str) -> str:
    """The text written into the ServiceTitan PO's memo (returned as `summary`)."""
    return f"{MARKER_PREFIX}{order_no}"


TABLES = (
    Table("vendors", "IFS VendorNo -> ServiceTitan vendor id"),
    Table(
        "sites", "IFS site (Contract) -> ServiceTitan business unit, inventory location, ship-to"
    ),
    Table("tax_codes", "IFS tax code -> ServiceTitan tax zone and rate"),
    Table("parts", "IFS PartNo -> ServiceTitan SKU id"),
    Table("po_types", "`default` -> the ServiceTitan purchase-order type IFS POs become"),
)


def map_item(item: Item, maps: Mappings, settings: PurchaseOrderSettings) -> Mapped:
    """One IFS PO read (header and lines): ignored unless its state syncs; a cancelled
    PO cancels its ServiceTitan PO; any other becomes the ServiceTitan payload."""
    header, lines = item.data["header"], item.data["lines"]
    if header["Objstate"] not in settings.states:
        return Mapped(None, op="ignore")
    if header["Objstate"] == "Cancelled":
        return Mapped({"canceledReason": "Other"}, op="cancel")
    return map_purchase_order(header, lines, maps)


def decimal_or_none(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        result = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return result if result.is_finite() else None


def _line_label(line: Mapping[str, Any]) -> str:
    return f"line {line.get('LineNo')}/{line.get('ReleaseNo')}"


def map_purchase_order(
    header: Mapping[str, Any], lines: Sequence[Mapping[str, Any]], maps: Mappings
) -> Mapped:
    """Map one IFS PO and its lines; every problem names the PO, the field and the fix."""
    order_no = str(header["OrderNo"])
    po = f"PO {order_no!r}"
    problems: list[tuple[str, str]] = []

    def missing(kind: str, field_name: str, value: Any, what: str) -> None:
        problems.append(
            (
                "mapping_missing",
                f"{po}: {field_name} {value!r} has no {what} mapping; add it to the "
                f"`{kind}` table of the connection's mappings (version {maps.version})",
            )
        )

    vendor_no = header.get("VendorNo")
    vendor_id = maps.table("vendors").get(str(vendor_no)) if vendor_no else None
    if vendor_no and vendor_id is None:
        missing("vendors", "VendorNo", vendor_no, "vendor")
    elif not vendor_no:
        problems.append(("validation", f"{po}: VendorNo is empty; set the supplier in IFS"))

    site_code = header.get("Contract")
    site = maps.table("sites").get(str(site_code)) if site_code else None
    if site is None:
        missing("sites", "Contract (site)", site_code, "site")

    tax_code = header.get("TaxCode") or next(
        (ln.get("TaxCode") for ln in lines if ln.get("TaxCode")), None
    )
    tax = maps.table("tax_codes").get(str(tax_code)) if tax_code else None
    if tax_code and tax is None:
        missing("tax_codes", "TaxCode", tax_code, "tax zone")
    rate = decimal_or_none(tax.get("rate")) if tax else Decimal(0)

    po_type = maps.table("po_types").get("default")
    if po_type is None:
        missing("po_types", "purchase-order type", "default", "PO type")

    if not lines:
        problems.append(("validation", f"{po}: has no lines; ServiceTitan needs at least one"))

    items: list[dict[str, Any]] = []
    subtotal = Decimal(0)
    parts = maps.table("parts")
    for line in sorted(lines, key=lambda ln: (_num(ln.get("LineNo")), _num(ln.get("ReleaseNo")))):
        label = _line_label(line)
        part_no = line.get("PartNo")
        qty = decimal_or_none(line.get("BuyQtyDue"))
        price = decimal_or_none(line.get("BuyUnitPrice"))
        if not part_no:
            problems.append(
                (
                    "validation",
                    f"{po} {label}: PartNo is empty; ServiceTitan PO items need a SKU: "
                    "give the line a part in IFS",
                )
            )
        elif str(part_no) not in parts:
            missing("parts", f"{label} PartNo", part_no, "SKU")
        if qty is None or qty <= 0:
            problems.append(
                (
                    "validation",
                    f"{po} {label}: BuyQtyDue {line.get('BuyQtyDue')!r} must be a positive "
                    "number; correct the quantity in IFS",
                )
            )
        if price is None or price < 0:
            problems.append(
                (
                    "validation",
                    f"{po} {label}: BuyUnitPrice {line.get('BuyUnitPrice')!r} must be a "
                    "number of zero or more; correct the price in IFS (credits are not POs)",
                )
            )
        if qty is not None and price is not None and part_no and str(part_no) in parts:
            subtotal += qty * price
            items.append(
                {
                    "skuId": int(parts[str(part_no)]),
                    "description": str(line.get("Description") or part_no)[:255],
                    "vendorPartNumber": str(part_no),
                    "quantity": float(qty),
                    "cost": float(price),
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
        "vendorId": int(vendor_id),
        "typeId": int(po_type),
        "businessUnitId": int(site["business_unit_id"]),
        "inventoryLocationId": int(site["inventory_location_id"]),
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
        "tax": float(tax_amount),
        "shipping": 0.0,
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
