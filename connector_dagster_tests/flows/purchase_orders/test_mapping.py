"""The IFS -> ServiceTitan purchase-order mapping, as plain data."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from connector_dagster.defs.purchase_orders.mapping import map_purchase_order, update_payload
from connector_dagster.engine import registry
from connector_dagster.kits.purchase_orders.tables import TABLES
from connector_dagster.lib import mapping
from connector_dagster.lib.settings import PROJECT_ROOT
from connector_dagster.sandbox import world

MAPS = mapping.load_file(
    PROJECT_ROOT / "connector_dagster/mappings/sandbox.yaml", registry.tables()
)
HEADER = {
    "OrderNo": "PO-O'NEIL-7",
    "VendorNo": "V1003",
    "OrderDate": "2026-10-14",
    "Objstate": "Released",
    "Contract": "NORTH",
    "CurrencyCode": "USD",
    "WantedReceiptDate": "2026-10-20",
    "TaxCode": "TX-N",
}
LINES = [
    {"OrderNo": "PO-O'NEIL-7", "LineNo": "2", "ReleaseNo": "1", "PartNo": "P-10002",
     "Description": "1/2in copper tee", "BuyQtyDue": 4, "BuyUnitPrice": "1.90"},
    {"OrderNo": "PO-O'NEIL-7", "LineNo": "1", "ReleaseNo": "1", "PartNo": "P-10001",
     "Description": "3/4in copper elbow", "BuyQtyDue": "10", "BuyUnitPrice": 2.35},
]  # fmt: skip


def test_sandbox_mapping_file_matches_the_sandbox_world() -> None:
    assert MAPS.table("vendors") == {v.ifs_vendor_no: v.st_vendor_id for v in world.VENDORS}
    assert MAPS.table("parts") == {p.ifs_part_no: p.st_sku_id for p in world.PARTS}
    for region in world.REGIONS:
        site = MAPS.table("sites")[region.ifs_site]
        assert site["business_unit_id"] == region.st_business_unit_id
        assert site["inventory_location_id"] == region.st_warehouse_id
        assert MAPS.table("tax_codes")[region.ifs_tax_code]["tax_zone_id"] == region.st_tax_zone_id


def test_po_maps_vendor_site_tax_parts_and_provenance() -> None:
    mapped = map_purchase_order(HEADER, LINES, MAPS)
    assert mapped.problem is None
    p = mapped.payload
    assert (p["vendorId"], p["businessUnitId"], p["inventoryLocationId"], p["typeId"]) == (
        3103,
        501,
        77,
        12,
    )
    assert p["memo"] == "IFS PO PO-O'NEIL-7" and p["vendorInvoiceNumber"] == "PO-O'NEIL-7"
    assert p["date"] == "2026-10-14T00:00:00Z" and p["requiredOn"] == "2026-10-20T00:00:00Z"
    # Amounts stay Decimal, so they reach ServiceTitan with exactly their digits.
    assert [(i["skuId"], i["quantity"], i["cost"]) for i in p["items"]] == [
        (55501, Decimal("10"), Decimal("2.35")),
        (55502, Decimal("4"), Decimal("1.90")),
    ]
    assert p["items"][0]["vendorPartNumber"] == "P-10001"
    # (10 * 2.35 + 4 * 1.90) * 0.0925 = 31.10 * 0.0925 = 2.876... -> 2.88
    assert p["tax"] == Decimal("2.88")
    assert p["shipTo"]["address"]["city"] == "Glendale"


@pytest.mark.parametrize(
    ("change", "reason", "fragment"),
    [
        ({"VendorNo": "V9999"}, "mapping_missing", "VendorNo 'V9999' has no vendor mapping"),
        ({"Contract": "MOON"}, "mapping_missing", "Contract (site) 'MOON' has no site"),
        ({"TaxCode": "TX-Q"}, "mapping_missing", "TaxCode 'TX-Q' has no tax zone"),
        ({"VendorNo": None}, "validation", "VendorNo is empty"),
    ],
)
def test_header_problems_name_po_field_and_fix(change: dict, reason: str, fragment: str) -> None:
    mapped = map_purchase_order({**HEADER, **change}, LINES, MAPS)
    assert mapped.payload is None
    got_reason, message = mapped.problem
    assert got_reason == reason
    assert 'PO "PO-O\'NEIL-7"' in message and fragment in message


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"PartNo": None}, "line 1/1: PartNo is empty"),
        ({"PartNo": "P-0"}, "line 1/1 PartNo 'P-0' has no SKU mapping"),
        ({"BuyUnitPrice": "-3.00"}, "BuyUnitPrice '-3.00' must be a number of zero or more"),
        ({"BuyUnitPrice": "abc"}, "BuyUnitPrice 'abc'"),
        ({"BuyQtyDue": 0}, "BuyQtyDue 0 must be a positive number"),
    ],
)
def test_line_problems_name_the_line(change: dict, fragment: str) -> None:
    lines = [LINES[0], {**LINES[1], **change}]
    mapped = map_purchase_order(HEADER, lines, MAPS)
    assert mapped.payload is None
    assert fragment in mapped.problem[1]


@pytest.mark.parametrize("state", ["Closed", "Received"])
def test_a_po_ifs_no_longer_lets_change_is_not_told_to_be_corrected_in_ifs(state: str) -> None:
    """A Closed PO whose line has no part was told to "give the line a part in IFS",
    which IFS refuses for a Closed PO: the fix named is one that exists."""
    lines = [LINES[0], {**LINES[1], "PartNo": None, "BuyQtyDue": 0}]
    mapped = map_purchase_order({**HEADER, "Objstate": state}, lines, MAPS)
    messages = [message for _, message in mapped.problems]
    assert len(messages) == 2
    for message in messages:
        assert "a part in IFS" not in message and "quantity in IFS" not in message
        assert f"IFS no longer lets a {state} PO change" in message
        assert "enter it in ServiceTitan by hand" in message
    released = map_purchase_order(HEADER, lines, MAPS)
    assert "give the line a part in IFS" in released.problems[0][1]


def test_zero_price_line_is_allowed_and_unicode_order_number_kept() -> None:
    header = {**HEADER, "OrderNo": "PO-Ü-12"}
    mapped = map_purchase_order(header, [{**LINES[0], "BuyUnitPrice": 0}], MAPS)
    assert mapped.problem is None
    assert mapped.payload["memo"] == "IFS PO PO-Ü-12"


def test_update_payload_sends_every_line_with_ids_of_active_lines() -> None:
    payload = map_purchase_order(HEADER, LINES, MAPS).payload
    current = [{"id": 11, "status": "Pending"}, {"id": 9, "status": "Inactive"}]
    body = update_payload(payload, current)
    assert [i.get("id") for i in body["items"]] == [11, None]
    assert body["vendorId"] == payload["vendorId"]


def test_mapping_file_errors_name_the_file(tmp_path: Path) -> None:
    from connector_dagster.lib.settings import ConfigError

    bad = tmp_path / "m.yaml"
    bad.write_text("vendors: {}\n")
    with pytest.raises(ConfigError, match="has no `version`"):
        mapping.load_file(bad, TABLES)
    bad.write_text("version: 1\nvendorz: {}\n")
    with pytest.raises(ConfigError, match="unknown table"):
        mapping.load_file(bad, TABLES)


def test_cancelled_lines_are_left_out_and_a_po_of_only_cancelled_lines_is_parked() -> None:
    lines = [LINES[0], {**LINES[1], "Objstate": "Cancelled"}]
    payload = map_purchase_order(HEADER, lines, MAPS).payload
    assert [i["vendorPartNumber"] for i in payload["items"]] == ["P-10002"]
    cancelled = [{**line, "Objstate": "Cancelled"} for line in LINES]
    reason, message = map_purchase_order(HEADER, cancelled, MAPS).problem
    assert reason == "validation" and "has no lines that are not cancelled" in message


def test_a_po_not_in_the_tenants_currency_is_parked_naming_po_and_currency() -> None:
    reason, message = map_purchase_order({**HEADER, "CurrencyCode": "EUR"}, LINES, MAPS).problem
    assert reason == "validation"
    assert "PO \"PO-O'NEIL-7\": CurrencyCode 'EUR'" in message and "'USD'" in message


def test_a_bad_mapping_entry_parks_only_the_records_that_need_it(tmp_path: Path) -> None:
    text = (PROJECT_ROOT / "connector_dagster/mappings/sandbox.yaml").read_text()
    bad = tmp_path / "m.yaml"
    bad.write_text(text.replace('"V1003": 3103', '"V1003": abc').replace(
        '"P-10001": 55501', '"P-10001": null'))  # fmt: skip
    maps = mapping.load_file(bad, registry.tables())
    assert maps.entry("vendors", "V1003")[1] is not None
    assert any("parts['P-10001']" in p for p in maps.problems())
    reason, message = map_purchase_order(HEADER, LINES, maps).problem
    assert reason == "mapping_missing"
    assert "VendorNo 'V1003' has an invalid vendor mapping" in message
    assert "PartNo 'P-10001' has an invalid SKU mapping" in message
    other = {**HEADER, "VendorNo": "V1004"}
    assert map_purchase_order(other, LINES[:1], maps).problem is None


def test_a_mapping_file_that_is_not_a_table_of_tables_is_a_clear_error(tmp_path: Path) -> None:
    from connector_dagster.lib.settings import ConfigError

    bad = tmp_path / "m.yaml"
    bad.write_text("- vendors\n- parts\n")
    with pytest.raises(ConfigError, match="must map table names to tables"):
        mapping.load_file(bad, TABLES)
