"""OpenAPI conformance cases of the ServiceTitan simulator's accounting routes:
reference lists, invoices and bills (run by `test_openapi_conformance.py`)."""

from __future__ import annotations

from connector_dagster_tests.sandbox.servicetitan.openapi_harness import Cases, Checked

CASES = Cases()


@CASES.case("GET", "accounting", "tax-zones")
def _tax_zones(call: Checked) -> None:
    call("GET", "accounting", "tax-zones", params={"ids": "14,15"})


@CASES.case("GET", "accounting", "gl-accounts")
def _gl_accounts(call: Checked) -> None:
    call("GET", "accounting", "gl-accounts", params={"types": "Income", "active": "Any"})


@CASES.case("GET", "accounting", "gl-accounts/{accountId}")
def _gl_account(call: Checked) -> None:
    call("GET", "accounting", "gl-accounts/401")
    call("GET", "accounting", "gl-accounts/1", expect=404)


@CASES.case("POST", "accounting", "gl-accounts")
def _create_gl_account(call: Checked) -> None:
    body = {"name": "Fleet fuel", "number": "6110", "type": "Expense", "subtype": "Expense"}
    call("POST", "accounting", "gl-accounts", json=body, expect=201)
    call("POST", "accounting", "gl-accounts", json=body, expect=409)
    call("POST", "accounting", "gl-accounts", json={**body, "type": "Nope"}, expect=400)


@CASES.case("PATCH", "accounting", "gl-accounts/{accountId}")
def _update_gl_account(call: Checked) -> None:
    body = {"name": "Tools", "number": "6120", "type": "Expense"}
    created = call("POST", "accounting", "gl-accounts", json=body, expect=201)
    call(
        "PATCH",
        "accounting",
        f"gl-accounts/{created['id']}",
        json={"description": "Small tools", "active": False},
    )
    call("PATCH", "accounting", f"gl-accounts/{created['id']}", json={"number": "4010"}, expect=409)
    call("PATCH", "accounting", "gl-accounts/1", json={"name": "x"}, expect=404)


@CASES.case("GET", "accounting", "gl-accounts/types")
def _gl_account_types(call: Checked) -> None:
    call("GET", "accounting", "gl-accounts/types", params={"active": "Any", "includeTotal": "true"})
    call("GET", "accounting", "gl-accounts/types", params={"active": "Maybe"}, expect=400)


@CASES.case("GET", "accounting", "invoices")
def _invoices(call: Checked) -> None:
    call(
        "GET",
        "accounting",
        "invoices",
        params=[
            ("statuses", "Posted"),
            ("statuses", "Pending"),
            ("activeState", "All"),
            ("includeTotal", "true"),
        ],
    )
    adjustments = {"invoicedOnOrAfter": "2025-11-01T00:00:00Z", "adjustmentToId": 77000001}
    call("GET", "accounting", "invoices", params=adjustments)
    call("GET", "accounting", "invoices", params={"statuses": "Lost"}, expect=400)


@CASES.case("POST", "accounting", "invoices/markasexported")
def _mark_invoices(call: Checked) -> None:
    call(
        "POST",
        "accounting",
        "invoices/markasexported",
        json=[
            {"invoiceId": 77000001, "externalId": "ACME01-1", "externalMessage": "ok"},
            {"invoiceId": 1, "externalId": None, "externalMessage": None},
        ],
    )
    call("POST", "accounting", "invoices/markasexported", json={"invoiceId": 1}, expect=400)


@CASES.case("GET", "accounting", "export/invoices")
def _export_invoices(call: Checked) -> None:
    feed = call("GET", "accounting", "export/invoices", params={"from": "2026-12-20"})
    call("GET", "accounting", "export/invoices", params={"from": feed["continueFrom"]})


@CASES.case("GET", "accounting", "export/invoice-items")
def _export_invoice_items(call: Checked) -> None:
    call("GET", "accounting", "export/invoice-items", params={"from": "2026-12-20"})


# --- accounting: bills ---


@CASES.case("GET", "accounting", "inventory-bills")
def _inventory_bills(call: Checked) -> None:
    call("GET", "accounting", "inventory-bills", params={"businessUnitIds": "501,502"})


@CASES.case("GET", "accounting", "inventory-bills/paginated")
def _inventory_bills_paginated(call: Checked) -> None:
    call(
        "GET",
        "accounting",
        "inventory-bills/paginated",
        params={"includeTotal": "true", "syncStatuses": "Posted", "minCost": 10},
    )


@CASES.case("POST", "accounting", "inventory-bills/markasexported")
def _mark_inventory_bills(call: Checked) -> None:
    call(
        "POST",
        "accounting",
        "inventory-bills/markasexported",
        json={"inventoryBillIds": [66000001, 1]},
    )
    call("POST", "accounting", "inventory-bills/markasexported", json={}, expect=400)


@CASES.case("GET", "accounting", "export/inventory-bills")
def _export_inventory_bills(call: Checked) -> None:
    call("GET", "accounting", "export/inventory-bills", params={"from": "2026-12-01"})


@CASES.case("GET", "accounting", "ap-bills")
def _ap_bills(call: Checked) -> None:
    call("GET", "accounting", "ap-bills")
    call("GET", "accounting", "ap-bills", params={"billType": "ApBill", "statuses": "Reconciled"})


@CASES.case("GET", "accounting", "ap-bills/{billId}")
def _ap_bill(call: Checked) -> None:
    call("GET", "accounting", "ap-bills/66000001")
    call("GET", "accounting", "ap-bills/66000301")
    call("GET", "accounting", "ap-bills/1", expect=404)


@CASES.case("POST", "accounting", "ap-bills/markasexported")
def _mark_ap_bills(call: Checked) -> None:
    call("POST", "accounting", "ap-bills/markasexported", json={"billIds": [66000301, 2]})
