"""The ServiceTitan -> IFS purchase-order mapping (F1's tables read in reverse), and the
markers of the two-way pair, as plain data."""

from __future__ import annotations

from decimal import Decimal

from connector_dagster.defs.purchase_orders.mapping import map_item as f1_map_item
from connector_dagster.defs.purchase_orders.settings import PurchaseOrderSettings
from connector_dagster.defs.st_purchase_orders.mapping import map_item, reverse
from connector_dagster.defs.st_purchase_orders.settings import RaisedPurchaseOrderSettings
from connector_dagster.engine import registry
from connector_dagster.engine.records import Item
from connector_dagster.kits.purchase_orders.provenance import made_from_ifs as from_ifs
from connector_dagster.kits.purchase_orders.provenance import (
    raised_in_servicetitan,
    reference_marker,
)
from connector_dagster.lib import mapping
from connector_dagster.lib.mapping import Mappings
from connector_dagster.lib.settings import PROJECT_ROOT

MAPS = mapping.load_file(
    PROJECT_ROOT / "connector_dagster/mappings/sandbox.yaml", registry.tables()
)
SETTINGS = RaisedPurchaseOrderSettings()
PO = {
    "id": 9000777, "number": "PO-000777", "status": "Sent", "vendorId": 3103,
    "businessUnitId": 501, "inventoryLocationId": 77, "date": "2026-10-14",
    "requiredOn": "2026-10-21", "tax": "2.88", "summary": "Job materials — O'Brien residence",
}  # fmt: skip
ITEMS = [
    {"id": 12, "skuId": 55502, "description": "1/2in copper tee", "quantity": 4, "cost": "1.90"},
    {"id": 11, "skuId": 55501, "description": "3/4in copper elbow", "quantity": "10.0",
     "cost": "2.35"},
]  # fmt: skip


def mapped(po: dict | None = None, items: list | None = None, maps: Mappings = MAPS, **settings):
    item = Item("9000777", "v", {"purchase_order": {**PO, **(po or {})},
                                 "items": ITEMS if items is None else items})  # fmt: skip
    return map_item(item, maps, RaisedPurchaseOrderSettings(**settings))


def with_entry(kind: str, code: str, target: object) -> Mappings:
    tables = {k: dict(v) for k, v in MAPS.tables.items()}
    tables[kind][code] = target
    return Mappings(MAPS.version, tables)


def test_po_maps_supplier_site_parts_tax_code_and_keeps_amounts() -> None:
    result = mapped()
    assert result.problem is None and result.op == "upsert"
    header, lines = result.payload["header"], result.payload["lines"]
    assert (header["VendorNo"], header["Contract"], header["TaxCode"]) == ("V1003", "NORTH", "TX-N")
    assert (header["OrderDate"], header["WantedReceiptDate"]) == ("2026-10-14", "2026-10-21")
    assert header["NoteText"] == "Job materials — O'Brien residence"
    assert "OrderNo" not in header  # IFS numbers it unless the tenant numbers manually
    assert [(ln["PartNo"], ln["BuyQtyDue"], ln["BuyUnitPrice"]) for ln in lines] == [
        ("P-10001", Decimal("10.0"), Decimal("2.35")),  # in ServiceTitan item order
        ("P-10002", Decimal(4), Decimal("1.90")),
    ]
    assert result.payload["number"] == "PO-000777"
    assert mapped(manual_order_no=True).payload["header"]["OrderNo"] == "PO-000777"
    long = mapped({"number": "X" * 21}, manual_order_no=True).payload["header"]
    assert "OrderNo" not in long  # longer than an IFS OrderNo: IFS numbers it


def test_tax_code_is_the_one_whose_rate_gives_the_tax_and_no_tax_has_none() -> None:
    assert mapped({"tax": "0"}).payload["header"]["TaxCode"] is None
    subtotal = Decimal("31.10")  # 10 x 2.35 + 4 x 1.90
    assert mapped({"tax": str(subtotal * Decimal("0.0775"))}).payload["header"]["TaxCode"] == (
        "TX-S"
    )
    [(reason, message)] = mapped({"tax": "9.99"}).problems
    assert reason == "mapping_missing" and "tax 9.99 on items worth 31.10" in message
    twin = with_entry("tax_codes", "TX-N2", {"tax_zone_id": 99, "rate": "0.0925"})
    [(reason, message)] = mapped(maps=twin).problems
    assert "'TX-N', 'TX-N2'" in message and "ambiguous" in message


def test_no_reverse_mapping_for_vendor_location_or_sku_is_mapping_missing() -> None:
    result = mapped({"vendorId": 3999, "inventoryLocationId": 78},
                    [{**ITEMS[0], "skuId": 61001}])  # fmt: skip
    assert result.problem is not None and result.problem[0] == "mapping_missing"
    text = result.problem[1]
    assert "PO 'PO-000777' (ServiceTitan id 9000777): vendorId 3999 has no IFS supplier" in text
    assert "businessUnitId 501 with inventoryLocationId 78 has no IFS site" in text
    assert "item 12: skuId 61001 has no IFS part" in text
    assert "`vendors` table" in text and "`sites` table" in text and "`parts` table" in text


def test_an_id_two_codes_map_to_is_ambiguous_naming_both() -> None:
    twin = with_entry("vendors", "V9003", 3103)
    [(reason, message)] = mapped(maps=twin).problems
    assert reason == "mapping_missing"
    assert "vendorId 3103 is mapped from IFS suppliers 'V1003', 'V9003'" in message
    assert reverse(twin).suppliers[3103] == ["V1003", "V9003"]


def test_no_items_bad_quantities_and_costs_are_validation() -> None:
    [(reason, message)] = mapped(items=[]).problems
    assert reason == "validation" and "has no items" in message
    bad = mapped(items=[{**ITEMS[0], "quantity": 0}, {**ITEMS[1], "cost": "-1"}])
    reasons = {r for r, _ in bad.problems}
    assert reasons == {"validation", "mapping_missing"}  # the tax no longer fits either
    assert "item 12: quantity 0 must be a positive number" in bad.problem[1]
    assert "item 11: cost '-1' must be a number of zero or more" in bad.problem[1]


def test_statuses_decide_what_syncs_and_what_cancels() -> None:
    assert mapped({"status": "Pending"}).op == "ignore"
    assert mapped({"status": "Received"}).op == "upsert"
    cancelled = mapped({"status": "Canceled"})
    assert (cancelled.op, cancelled.payload) == ("cancel", {"number": "PO-000777"})


def test_markers_round_trip_and_each_flow_knows_the_others() -> None:
    number = 'O\'Brien/½ "7"'
    marker = reference_marker(number, "sandbox")
    assert raised_in_servicetitan(f"urgent: {marker} (Bob)") == (number, "sandbox")
    assert raised_in_servicetitan("JOB 123456") is None
    assert from_ifs("call first - IFS PO PO-2026-00157 [connector:sandbox]")
    assert not from_ifs("Truck restock")
    header = {"OrderNo": "1000001", "Objstate": "Released", "st_reference": marker}
    f1 = f1_map_item(Item("1000001", "e", {"header": header, "lines": []}), MAPS,
                     PurchaseOrderSettings())  # fmt: skip
    assert (f1.op, f1.payload) == ("link", {"servicetitan_po": number, "connection": "sandbox"})
