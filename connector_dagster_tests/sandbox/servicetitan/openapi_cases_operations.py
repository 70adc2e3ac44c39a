"""OpenAPI conformance cases of the ServiceTitan simulator's inventory, jpm and
settings routes (run by `test_openapi_conformance.py`)."""

from __future__ import annotations

from connector_dagster_tests.sandbox.servicetitan.openapi_harness import Cases, Checked
from connector_dagster_tests.sandbox.servicetitan.support import new_po

CASES = Cases()


@CASES.case("GET", "inventory", "purchase-orders")
def _list_pos(call: Checked) -> None:
    call(
        "GET",
        "inventory",
        "purchase-orders",
        params={"status": "Received", "includeTotal": "true", "sort": "-ModifiedOn"},
    )
    call("GET", "inventory", "purchase-orders", params={"dateOnOrAfter": "2026-01-01T00:00:00Z"})
    call(
        "GET",
        "inventory",
        "purchase-orders",
        expect=400,
        params={"ids": ",".join(str(i) for i in range(51))},
    )


@CASES.case("POST", "inventory", "purchase-orders")
def _create_po(call: Checked) -> None:
    call("POST", "inventory", "purchase-orders", json=new_po())
    call("POST", "inventory", "purchase-orders", json=new_po(vendorId=1), expect=400)


@CASES.case("GET", "inventory", "purchase-orders/{id}")
def _get_po(call: Checked) -> None:
    call("GET", "inventory", "purchase-orders/9000001")
    call("GET", "inventory", "purchase-orders/1", expect=404)


@CASES.case("PATCH", "inventory", "purchase-orders/{id}")
def _update_po(call: Checked) -> None:
    created = call("POST", "inventory", "purchase-orders", json=new_po())
    po = call("GET", "inventory", f"purchase-orders/{created['id']}")
    keep = {
        k: po["items"][0][k]
        for k in ("id", "skuId", "description", "vendorPartNumber", "quantity", "cost")
    }
    added = {
        "id": 0,
        "skuId": 55508,
        "description": "Capacitor",
        "vendorPartNumber": "C-1",
        "quantity": 1,
        "cost": 18.4,
    }
    call(
        "PATCH",
        "inventory",
        f"purchase-orders/{po['id']}",
        json={"memo": "rev 2", "requiredOn": "2026-03-09T00:00:00Z", "items": [keep, added]},
    )
    received = next(
        p
        for p in call("GET", "inventory", "purchase-orders", params={"status": "Received"})["data"]
    )
    call("PATCH", "inventory", f"purchase-orders/{received['id']}", json={"memo": "x"}, expect=400)
    call("PATCH", "inventory", "purchase-orders/1", json={"memo": "x"}, expect=404)


@CASES.case("PATCH", "inventory", "purchase-orders/{id}/cancellation")
def _cancel_po(call: Checked) -> None:
    created = call("POST", "inventory", "purchase-orders", json=new_po())
    call(
        "PATCH",
        "inventory",
        f"purchase-orders/{created['id']}/cancellation",
        json={"canceledReason": "VendorIssue"},
    )
    call("PATCH", "inventory", "purchase-orders/1/cancellation", json={}, expect=404)


@CASES.case("GET", "inventory", "export/purchase-orders")
def _export_pos(call: Checked) -> None:
    feed = call("GET", "inventory", "export/purchase-orders", params={"from": "2026-12-01"})
    call(
        "GET",
        "inventory",
        "export/purchase-orders",
        params={"from": feed["continueFrom"], "includeRecentChanges": "true"},
    )


@CASES.case("GET", "inventory", "vendors")
def _vendors(call: Checked) -> None:
    call("GET", "inventory", "vendors", params=[("active", "Any"), ("ids", 3101), ("ids", 3120)])


@CASES.case("GET", "inventory", "vendors/{id}")
def _vendor(call: Checked) -> None:
    call("GET", "inventory", "vendors/3120")
    call("GET", "inventory", "vendors/1", expect=404)


@CASES.case("GET", "pricebook", "materials")
def _materials(call: Checked) -> None:
    found = call("GET", "pricebook", "materials", params={"active": "Any", "pageSize": 50})
    assert {m["active"] for m in found["data"]} == {True}
    call("GET", "pricebook", "materials", params={"active": "False"})


@CASES.case("GET", "pricebook", "equipment")
def _equipment(call: Checked) -> None:
    call("GET", "pricebook", "equipment", params={"active": "True", "page": 1})


@CASES.case("GET", "inventory", "purchase-order-types")
def _po_types(call: Checked) -> None:
    call("GET", "inventory", "purchase-order-types", params={"active": "Any"})


@CASES.case("GET", "inventory", "warehouses")
def _warehouses(call: Checked) -> None:
    call("GET", "inventory", "warehouses", params={"includeTotal": "true"})


@CASES.case("GET", "jpm", "jobs")
def _jobs(call: Checked) -> None:
    call("GET", "jpm", "jobs", params={"jobStatus": "Completed", "sort": "+Priority"})


@CASES.case("GET", "jpm", "jobs/{id}")
def _job(call: Checked) -> None:
    call("GET", "jpm", "jobs/88000001")
    call("GET", "jpm", "jobs/1", expect=404)


@CASES.case("GET", "jpm", "export/jobs")
def _export_jobs(call: Checked) -> None:
    call("GET", "jpm", "export/jobs", params={"from": "2026-12-20"})


@CASES.case("GET", "settings", "business-units")
def _business_units(call: Checked) -> None:
    call("GET", "settings", "business-units", params={"active": "Any", "name": "e"})


@CASES.case("GET", "settings", "business-units/{id}")
def _business_unit(call: Checked) -> None:
    call("GET", "settings", "business-units/509")
    call("GET", "settings", "business-units/1", expect=404)


@CASES.case("GET", "settings", "export/business-units")
def _export_business_units(call: Checked) -> None:
    call("GET", "settings", "export/business-units")
