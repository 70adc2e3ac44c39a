"""ServiceTitan simulator, accounting API: invoices (string money, GL accounts on
items, filters), markasexported, the invoice and invoice-item export feeds,
tax zones, GL accounts, inventory and AP bills — over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal

import pytest

from connector_dagster.sandbox import world
from connector_dagster_tests.sandbox.servicetitan.support import (
    StSandbox,
    new_po,
    st_sandbox,
)


@pytest.fixture(scope="module")
def seeded() -> Iterator[StSandbox]:
    with st_sandbox() as sandbox:
        yield sandbox


def _invoices(st: StSandbox, **params: object) -> list[dict]:
    return st.ok("GET", "accounting", "invoices", params={"pageSize": 500, **params})["data"]


def test_invoice_money_is_strings_and_totals_add_up(seeded: StSandbox) -> None:
    for inv in _invoices(seeded, pageSize=200):
        items = sum((Decimal(i["total"]) for i in inv["items"]), Decimal(0))
        assert Decimal(inv["subTotal"]) == items
        assert Decimal(inv["total"]) == Decimal(inv["subTotal"]) + Decimal(inv["salesTax"])
        assert all(isinstance(inv[k], str) for k in ("subTotal", "salesTax", "total", "balance"))
        assert 1 <= len(inv["items"]) <= 5


def test_invoice_items_carry_gl_accounts_and_business_units_from_world(seeded: StSandbox) -> None:
    accounts = {a.st_account_id: a for a in world.GL_ACCOUNTS}
    units = {r.st_business_unit_id for r in world.REGIONS}

    for inv in _invoices(seeded, pageSize=100):
        assert inv["businessUnit"]["id"] in units
        for item in inv["items"]:
            gl = item["generalLedgerAccount"]
            assert accounts[gl["id"]].ifs_account == gl["number"]
            assert item["type"] in ("Service", "Material", "Equipment")
            assert (item["costOfSaleAccount"] is None) == (item["type"] == "Service")


def test_sales_tax_is_the_regions_rate_on_taxable_items(seeded: StSandbox) -> None:
    rates = {r.st_business_unit_id: r.tax_rate for r in world.REGIONS}
    for inv in _invoices(seeded, pageSize=100):
        taxable = sum((Decimal(i["total"]) for i in inv["items"] if i["taxable"]), Decimal(0))
        rate = rates[inv["businessUnit"]["id"]]
        expected = (taxable * rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        assert Decimal(inv["salesTax"]) == expected


def test_zero_total_and_negative_adjustment_invoices_exist(seeded: StSandbox) -> None:
    everything = _invoices(seeded, activeState="All", pageSize=1000)
    november = _invoices(seeded, invoicedOnOrAfter="2025-11-01", invoicedOnBefore="2025-12-01")

    assert any(Decimal(inv["total"]) == 0 for inv in everything)
    adjustments = [inv for inv in november if inv["adjustmentToId"]]
    assert len(adjustments) == 1
    assert Decimal(adjustments[0]["total"]) < 0
    assert adjustments[0]["invoiceType"]["name"] == "Adjustment"


def test_ids_filter_caps_at_50(seeded: StSandbox) -> None:
    ids = ",".join(str(77_000_001 + i) for i in range(51))

    assert seeded.get("accounting", "invoices", ids=ids).status_code == 400
    assert len(_invoices(seeded, ids="77000001,77000002")) == 2


def test_repeated_statuses_filter(seeded: StSandbox) -> None:
    pending = seeded.call(
        "GET", "accounting", "invoices", params=[("statuses", "Pending"), ("pageSize", 500)]
    ).json()["data"]
    both = seeded.call(
        "GET",
        "accounting",
        "invoices",
        params=[("statuses", "Pending"), ("statuses", "Posted"), ("includeTotal", "true")],
    )

    assert pending and {i["syncStatus"] for i in pending} == {"Pending"}
    assert both.json()["totalCount"] == len(_invoices(seeded, pageSize=1000))
    assert seeded.get("accounting", "invoices", statuses="Lost").status_code == 400


def test_invoices_per_month_and_active_state(seeded: StSandbox) -> None:
    window = {"invoicedOnOrAfter": "2026-02-01", "invoicedOnBefore": "2026-03-01"}

    every = _invoices(seeded, activeState="All", **window)
    active = _invoices(seeded, **window)
    inactive = _invoices(seeded, activeState="InactiveOnly", pageSize=1000)

    assert len(every) == 60
    assert all(i["active"] for i in active)
    assert inactive and not any(i["active"] for i in inactive)


def test_modified_filter_and_paging_envelope(seeded: StSandbox) -> None:
    body = seeded.ok(
        "GET",
        "accounting",
        "invoices",
        params={"modifiedOnOrAfter": "2026-12-01", "includeTotal": "true", "pageSize": 10},
    )

    assert body["totalCount"] > 10 and body["hasMore"] is True
    assert all(i["modifiedOn"] >= "2026-12-01" for i in body["data"])


def test_markasexported_sets_exported_and_keeps_the_external_id(st: StSandbox) -> None:
    posted = _invoices(st, statuses="Posted", pageSize=2)
    rows = [
        {"invoiceId": posted[0]["id"], "externalId": "ACME01-INV-1", "externalMessage": "GL 42"},
        {"invoiceId": posted[1]["id"]},
        {"invoiceId": 1},
    ]

    results = st.ok("POST", "accounting", "invoices/markasexported", json=rows)

    assert [(r["invoiceId"], r["success"]) for r in results] == [
        (posted[0]["id"], True),
        (posted[1]["id"], True),
        (1, False),
    ]
    assert "not found" in results[2]["errorMessage"]
    after = _invoices(st, ids=f"{posted[0]['id']}")[0]
    assert (after["syncStatus"], after["exportId"]) == ("Exported", "ACME01-INV-1")
    assert after["modifiedOn"] > posted[0]["modifiedOn"]


def test_markasexported_refuses_a_pending_invoice_in_its_row(st: StSandbox) -> None:
    pending = _invoices(st, statuses="Pending", pageSize=1)[0]

    [result] = st.ok(
        "POST", "accounting", "invoices/markasexported", json=[{"invoiceId": pending["id"]}]
    )

    assert result["success"] is False
    assert "Pending" in result["errorMessage"]


def test_markasexported_needs_an_array_of_rows(st: StSandbox) -> None:
    not_array = st.call("POST", "accounting", "invoices/markasexported", json={"invoiceId": 1})
    bad_row = st.call("POST", "accounting", "invoices/markasexported", json=[{"id": 1}])

    assert not_array.status_code == 400
    assert bad_row.status_code == 400
    assert "[0].invoiceId" in bad_row.json()["errors"]


def test_invoice_exports_page_and_follow_changes() -> None:
    with st_sandbox(st_page_size_max=400) as st:
        feed = st.ok("GET", "accounting", "export/invoices")
        ids, token = [r["id"] for r in feed["data"]], feed["continueFrom"]
        while feed["hasMore"]:
            feed = st.ok("GET", "accounting", "export/invoices", params={"from": token})
            ids, token = ids + [r["id"] for r in feed["data"]], feed["continueFrom"]
        created = st.control(
            "POST", "invoices", {"businessUnitId": 503, "items": [{"skuId": 55501, "quantity": 2}]}
        )
        changes = st.ok("GET", "accounting", "export/invoices", params={"from": token})
        items = st.ok("GET", "accounting", "export/invoice-items", params={"from": token})

    assert len(ids) == len(set(ids)) == 900
    assert [r["id"] for r in changes["data"]] == [created["id"]]
    assert [(i["invoiceId"], i["skuId"], i["active"]) for i in items["data"]] == [
        (created["id"], 55501, True)
    ]


def test_tax_zones_and_gl_accounts_match_world(seeded: StSandbox) -> None:
    zones = seeded.ok("GET", "accounting", "tax-zones")["data"]
    accounts = seeded.ok("GET", "accounting", "gl-accounts", params={"pageSize": 100})["data"]
    by_number = seeded.ok("GET", "accounting", "gl-accounts", params={"numbers": "4010,5010"})

    assert [(z["id"], Decimal(str(z["rates"][0]["taxRate"]))) for z in zones] == [
        (r.st_tax_zone_id, r.tax_rate) for r in world.REGIONS
    ] + [(int(z.code), z.rate) for z in world.ST_EXTRA_TAX_ZONES]
    assert [(a["id"], a["number"]) for a in accounts] == [
        (a.st_account_id, a.ifs_account) for a in world.GL_ACCOUNTS
    ] + [(int(a.code), a.number or "") for a in world.ST_EXTRA_GL_ACCOUNTS if a.active]
    assert [a["id"] for a in by_number["data"]] == [401, 501]
    assert seeded.ok("GET", "accounting", "gl-accounts/220")["name"] == "Sales Tax Payable"
    assert seeded.get("accounting", "gl-accounts/999").status_code == 404


def test_inventory_bills_are_a_bare_array_and_paginated_an_envelope(seeded: StSandbox) -> None:
    bare = seeded.ok("GET", "accounting", "inventory-bills", params={"pageSize": 5})
    paged = seeded.ok(
        "GET",
        "accounting",
        "inventory-bills/paginated",
        params={"pageSize": 5, "includeTotal": "true"},
    )

    assert isinstance(bare, list) and len(bare) == 5
    assert paged["data"] == bare
    assert paged["totalCount"] == 300  # 20 a month


def test_inventory_bill_amounts_follow_its_purchase_order(seeded: StSandbox) -> None:
    bill = seeded.ok("GET", "accounting", "inventory-bills", params={"pageSize": 1})[0]
    po = seeded.ok("GET", "inventory", f"purchase-orders/{bill['purchaseOrderId']}")

    lines = sum((Decimal(i["quantity"]) * Decimal(i["cost"]) for i in bill["items"]), Decimal(0))
    assert Decimal(bill["billAmount"]) == lines
    total = (
        Decimal(bill["billAmount"]) + Decimal(bill["taxAmount"]) + Decimal(bill["shippingAmount"])
    )
    assert total == Decimal(str(po["total"]))
    assert bill["vendor"]["id"] == po["vendorId"]
    assert bill["items"][0]["generalLedgerAccount"]["number"] == "1300"


def test_ap_bills_default_to_procurement_and_filter_by_bill_type(seeded: StSandbox) -> None:
    default = seeded.ok("GET", "accounting", "ap-bills", params={"includeTotal": "true"})
    standalone = seeded.ok(
        "GET", "accounting", "ap-bills", params={"billType": "ApBill", "includeTotal": "true"}
    )
    every = seeded.ok("GET", "accounting", "ap-bills", params={"billType": "NotSet", "pageSize": 1})

    assert default["totalCount"] == 300 and {b["billType"] for b in default["data"]} == {
        "Procurement"
    }
    assert standalone["totalCount"] == 300
    bill = standalone["data"][0]
    assert bill["expenseItems"] and Decimal(bill["billAmount"]) == sum(
        Decimal(e["amount"]) for e in bill["expenseItems"]
    )
    assert every["data"][0]["id"] == default["data"][0]["id"]
    assert seeded.ok("GET", "accounting", f"ap-bills/{bill['id']}") == bill
    assert seeded.get("accounting", "ap-bills/1").status_code == 404


def test_receiving_a_po_creates_its_inventory_bill_in_the_export_feed(st: StSandbox) -> None:
    head = st.ok("GET", "accounting", "export/inventory-bills", params={"from": "2099-01-01"})
    po = st.ok("POST", "inventory", "purchase-orders", json=new_po())

    st.control("POST", f"purchase-orders/{po['id']}/status", {"status": "Received"})

    feed = st.ok(
        "GET", "accounting", "export/inventory-bills", params={"from": head["continueFrom"]}
    )
    [bill] = feed["data"]
    assert (bill["purchaseOrderId"], bill["vendorNumber"], bill["active"]) == (
        po["id"],
        "F-88812",
        True,
    )
    assert Decimal(bill["billAmount"]) == Decimal("52.50")


def test_bills_markasexported(st: StSandbox) -> None:
    bill = st.ok("GET", "accounting", "inventory-bills", params={"pageSize": 1})[0]
    ap = st.ok("GET", "accounting", "ap-bills", params={"billType": "ApBill", "pageSize": 1})

    inventory = st.ok(
        "POST",
        "accounting",
        "inventory-bills/markasexported",
        json={"inventoryBillIds": [bill["id"], 5]},
    )
    standalone = st.ok(
        "POST", "accounting", "ap-bills/markasexported", json={"billIds": [ap["data"][0]["id"]]}
    )

    assert [r["success"] for r in inventory] == [True, False]
    assert standalone == [{"billId": ap["data"][0]["id"], "success": True, "errorMessage": None}]
    after = st.ok("GET", "accounting", "inventory-bills", params={"ids": bill["id"]})[0]
    assert after["syncStatus"] == "PostedAndExported"
