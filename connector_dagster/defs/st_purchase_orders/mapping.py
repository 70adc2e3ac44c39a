"""ServiceTitan purchase order -> IFS purchase order: pure mapping, no I/O.

F1's mapping tables read in reverse: ServiceTitan vendor -> IFS supplier (`vendors`),
business unit and inventory location -> site (`sites`), SKU -> part (`parts`), and
the tax the PO carries -> tax code (`tax_codes`: ServiceTitan POs carry a tax amount,
not a tax zone, so the code is the one whose rate gives that amount). A ServiceTitan
id that two IFS codes map to is ambiguous, never guessed. Quantities and costs are
kept exactly; the PO number becomes the IFS PO's provenance (and, if the tenant
numbers manually, its OrderNo).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from connector_dagster.engine.problems import Problems
from connector_dagster.engine.records import Item, Mapped
from connector_dagster.kits.purchase_orders.tables import TABLES as PO_TABLES
from connector_dagster.lib.mapping import Mappings
from connector_dagster.lib.numbers import decimal_or_none

if TYPE_CHECKING:
    from connector_dagster.defs.st_purchase_orders.settings import RaisedPurchaseOrderSettings

TABLES = tuple(t for t in PO_TABLES if t.kind in ("vendors", "sites", "parts", "tax_codes"))
"""F1's tables, declared the same way (same entry types): F5 reads them in reverse."""
CENT = Decimal("0.01")
DESCRIPTION_LENGTH = 200


@dataclass(frozen=True)
class Reverse:
    """The mapping tables turned around: ServiceTitan ids -> the IFS codes mapping to them."""

    version: str
    suppliers: dict[int, list[str]]
    sites: dict[tuple[int, int], list[str]]
    parts: dict[int, list[str]]
    tax_codes: list[tuple[str, Decimal]]
    """(tax code, rate), for the code whose rate gives a PO's tax."""


def reverse(maps: Mappings) -> Reverse:
    """Each table read the other way round; several codes for one id are all kept."""
    suppliers: dict[int, list[str]] = defaultdict(list)
    for vendor_no, vendor_id in sorted(maps.table("vendors").items()):
        suppliers[int(vendor_id)].append(vendor_no)
    sites: dict[tuple[int, int], list[str]] = defaultdict(list)
    for site, entry in sorted(maps.table("sites").items()):
        sites[(int(entry["business_unit_id"]), int(entry["inventory_location_id"]))].append(site)
    parts: dict[int, list[str]] = defaultdict(list)
    for part_no, sku_id in sorted(maps.table("parts").items()):
        parts[int(sku_id)].append(part_no)
    tax_codes = [
        (code, Decimal(str(entry["rate"])))
        for code, entry in sorted(maps.table("tax_codes").items())
    ]
    return Reverse(maps.version, dict(suppliers), dict(sites), dict(parts), tax_codes)


def po_label(po: Mapping[str, Any]) -> str:
    """How a PO is named in messages: its number and its ServiceTitan id."""
    return f"PO {po.get('number')!r} (ServiceTitan id {po.get('id')})"


def map_item(item: Item, maps: Mappings, settings: RaisedPurchaseOrderSettings) -> Mapped:
    """One ServiceTitan PO read (with its items): cancelled ones cancel their IFS PO,
    ones in a status that does not sync are left out, the rest become the IFS payload."""
    po, items = item.data["purchase_order"], item.data["items"]
    if po["status"] in settings.cancelled_statuses:
        return Mapped({"number": str(po["number"])}, op="cancel")
    if po["status"] not in settings.statuses:
        return Mapped(None, op="ignore")
    return map_purchase_order(po, items, reverse(maps), settings)


class _Problems(Problems):
    """The problems of one PO, each naming the PO, the field and the fix."""

    def __init__(self, po: str, version: str) -> None:
        super().__init__(po)
        self.po, self.version = po, version

    def one(self, codes: list[str] | None, table: str, what: str, named: str) -> str | None:
        """The single IFS code for a ServiceTitan id, or None with the problem noted."""
        if codes and len(codes) == 1:
            return codes[0]
        where = f"the `{table}` table of the connection's mappings (version {self.version})"
        if not codes:
            fix = f"no entry maps to it; add the IFS {what} for it to {where}"
            self.append(("mapping_missing", f"{self.po}: {named} has no IFS {what}: {fix}"))
        else:
            listed = ", ".join(repr(c) for c in codes)
            self.append(
                (
                    "mapping_missing",
                    f"{self.po}: {named} is mapped from IFS {what}s {listed} in {where}, so "
                    f"the {what} is ambiguous; keep the entry of the right one only",
                )
            )
        return None


def _tax_code(
    subtotal: Decimal, tax: Decimal, rev: Reverse, problems: _Problems
) -> tuple[bool, str | None]:
    """(found, code): the tax code whose rate gives `tax` on `subtotal`, the closest
    within a cent (no tax: no code); none, or two equally close, is a problem."""
    if tax == 0:
        return True, None
    off = [(abs(subtotal * rate - tax), code) for code, rate in rev.tax_codes]
    near = sorted((d, code) for d, code in off if d < CENT)
    best = [code for off, code in near if off == near[0][0]] if near else []
    where = f"the `tax_codes` table of the connection's mappings (version {rev.version})"
    if len(best) == 1:
        return True, best[0]
    if not best:
        rates = ", ".join(f"{code} {rate}" for code, rate in rev.tax_codes) or "none"
        message = (
            f"{problems.po}: tax {tax} on items worth {subtotal:.2f} matches the rate of no tax "
            f"code in {where} (rates: {rates}); add the IFS tax code of that rate, or "
            "correct the tax in ServiceTitan"
        )
    else:
        listed = ", ".join(repr(c) for c in best)
        message = (
            f"{problems.po}: tax {tax} on items worth {subtotal:.2f} fits IFS tax codes {listed} "
            f"of {where} equally, so the tax code is ambiguous; give them distinct rates"
        )
    problems.append(("mapping_missing", message))
    return False, None


def map_purchase_order(
    po: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]],
    rev: Reverse,
    settings: RaisedPurchaseOrderSettings,
) -> Mapped:
    """Map one ServiceTitan PO and its items (in item id order). Amounts stay Decimal."""
    number = str(po["number"])
    problems = _Problems(po_label(po), rev.version)

    vendor_id = po.get("vendorId")
    supplier = None
    if vendor_id is None:
        problems.append(("validation", f"{problems.po}: has no vendor; set one in ServiceTitan"))
    else:
        supplier = problems.one(
            rev.suppliers.get(int(vendor_id)), "vendors", "supplier", f"vendorId {vendor_id}"
        )
    unit, location = po.get("businessUnitId"), po.get("inventoryLocationId")
    site = problems.one(
        rev.sites.get((int(unit or 0), int(location or 0))),
        "sites",
        "site",
        f"businessUnitId {unit} with inventoryLocationId {location}",
    )

    if not items:
        problems.append(
            (
                "validation",
                f"{problems.po}: has no items; an IFS purchase order needs at least one line: "
                "add its items in ServiceTitan (or cancel it there)",
            )
        )
    required = str(po.get("requiredOn") or po["date"])[:10]
    lines: list[dict[str, Any]] = []
    subtotal = Decimal(0)
    for item in sorted(items, key=lambda i: int(i["id"])):
        label = f"{problems.po} item {item['id']}"
        part_no = problems.one(
            rev.parts.get(int(item.get("skuId") or 0)),
            "parts",
            "part",
            f"item {item['id']}: skuId {item.get('skuId')}",
        )
        qty, cost = decimal_or_none(item.get("quantity")), decimal_or_none(item.get("cost"))
        if qty is None or qty <= 0:
            problems.append(
                (
                    "validation",
                    f"{label}: quantity {item.get('quantity')!r} must be a positive number; "
                    "correct it in ServiceTitan",
                )
            )
        if cost is None or cost < 0:
            problems.append(
                (
                    "validation",
                    f"{label}: cost {item.get('cost')!r} must be a number of zero or more; "
                    "correct it in ServiceTitan",
                )
            )
        if qty is not None and cost is not None:
            subtotal += qty * cost
        if part_no is not None and qty is not None and cost is not None:
            lines.append(
                {
                    "PartNo": part_no,
                    "Description": str(item.get("description") or part_no)[:DESCRIPTION_LENGTH],
                    "BuyQtyDue": qty,
                    "BuyUnitPrice": cost,
                    "WantedDeliveryDate": required,
                }
            )

    tax = decimal_or_none(po.get("tax"))
    if not items:
        has_tax_code, tax_code = False, None  # nothing to tax: the missing items say it all
    elif tax is None or tax < 0:
        problems.append(
            ("validation", f"{problems.po}: tax {po.get('tax')!r} must be zero or more")
        )
        has_tax_code, tax_code = False, None
    else:
        has_tax_code, tax_code = _tax_code(subtotal, tax, rev, problems)

    if problems:
        return Mapped(None, list(problems))
    assert supplier is not None and site is not None and has_tax_code
    header: dict[str, Any] = {
        "VendorNo": supplier,
        "Contract": site,
        "OrderDate": str(po["date"])[:10],
        "WantedReceiptDate": required,
        "CurrencyCode": settings.currency,
        "TaxCode": tax_code,
        "NoteText": str(po.get("summary") or "") or None,
    }
    if settings.manual_order_no and len(number) <= settings.order_no_length:
        header = {"OrderNo": number, **header}
    return Mapped({"number": number, "header": header, "lines": lines})
