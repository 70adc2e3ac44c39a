"""ServiceTitan simulator, `/_sandbox/` control endpoints: state, request counts,
fault profiles, reset, raw rows and the user moves that drive flows."""

from __future__ import annotations

from decimal import Decimal

from connector_dagster.sandbox import world
from connector_dagster_tests.sandbox.servicetitan.support import (
    StSandbox,
    fetch_token,
    new_po,
)


def test_state_counts_rows_per_resource(st: StSandbox) -> None:
    state = st.control("GET", "state")

    assert (state["seed"], state["scale"]) == (42, 1)
    assert state["counts"]["invoices"] == 900
    assert state["counts"]["purchase-orders"] == 360
    # a unit per region, a legacy one, and the extra ones only onboarding maps
    assert state["counts"]["business-units"] == 6 + len(world.ST_EXTRA_BUSINESS_UNITS)


def test_requests_are_counted_by_stable_route_and_status_and_can_be_cleared(st: StSandbox) -> None:
    fetch_token(st.client, st.config)
    st.get("inventory", "purchase-orders/9000001")
    st.get("inventory", "purchase-orders/9000002")
    st.get("inventory", "purchase-orders/1")
    st.call("POST", "inventory", "purchase-orders", json=new_po())
    st.control("GET", "state")

    seen = {(r["route"], r["status"]): r["count"] for r in st.control("GET", "requests")}
    cleared = st.control("DELETE", "requests")

    assert seen[("GET inventory/purchase-orders/{id}", 200)] == 2
    assert seen[("GET inventory/purchase-orders/{id}", 404)] == 1
    assert seen[("POST inventory/purchase-orders", 200)] == 1
    assert seen[("POST connect/token", 200)] == 1
    assert not any(route.startswith("GET /_sandbox") for route, _ in seen)
    assert cleared == []
    assert st.control("GET", "requests") == []


def test_faults_are_read_and_replaced(st: StSandbox) -> None:
    put = st.control("PUT", "faults", {"rate_429": 1.0, "retry_after_s": 3})
    limited = st.get("inventory", "purchase-orders/9000001")
    bad = st.client.put("/_sandbox/faults", json={"rate_of_doom": 1})
    st.control("PUT", "faults", {})

    assert put["rate_429"] == 1.0
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "3")
    assert bad.status_code == 400
    assert st.get("inventory", "purchase-orders/9000001").status_code == 200


def test_reset_reseeds(st: StSandbox) -> None:
    st.call("POST", "inventory", "purchase-orders", json=new_po())

    counts = st.control("POST", "reset")["counts"]

    assert counts["purchase-orders"] == 360
    assert st.get("inventory", "purchase-orders/9000361").status_code == 404


def test_entities_returns_rows_with_sandbox_extras(st: StSandbox) -> None:
    invoices = st.control("GET", "entities/invoices?ids=77000001,77000002")
    customers = st.control("GET", "entities/customers?ids=5001")
    unknown = st.client.get("/_sandbox/entities/widgets")

    assert [i["id"] for i in invoices] == [77000001, 77000002]
    assert "externalMessage" in invoices[0]["_sandbox"]
    assert customers[0]["businessUnitId"] in range(501, 506)
    assert unknown.status_code == 404


def test_moving_a_po_to_received_marks_lines_received(st: StSandbox) -> None:
    created = st.ok("POST", "inventory", "purchase-orders", json=new_po())

    po = st.control("POST", f"purchase-orders/{created['id']}/status", {"status": "Received"})
    bad = st.client.post(
        f"/_sandbox/purchase-orders/{created['id']}/status", json={"status": "Lost"}
    )

    assert po["status"] == "Received" and po["receivedOn"]
    assert all(i["quantityReceived"] == i["quantity"] for i in po["items"])
    assert bad.status_code == 400


def test_posting_an_invoice_creates_its_job_and_altering_it_recomputes_totals(
    st: StSandbox,
) -> None:
    created = st.control(
        "POST",
        "invoices",
        {
            "businessUnitId": 502,
            "summary": "Sandbox call",
            "items": [{"skuId": 55501, "quantity": 4, "price": "5.00"}, {"skuId": 61002}],
        },
    )

    altered = st.control(
        "POST",
        "invoices",
        {
            "id": created["id"],
            "syncStatus": "Pending",
            "items": [{"skuId": 61001, "price": "10.00"}],
        },
    )
    job = st.ok("GET", "jpm", f"jobs/{created['job']['id']}")

    assert (created["subTotal"], created["salesTax"]) == ("165.00", "1.55")  # 7.75 % of 20.00
    assert created["businessUnit"]["id"] == 502
    assert (altered["syncStatus"], altered["total"]) == ("Pending", "10.00")
    assert job["invoiceId"] == created["id"]
    assert Decimal(str(job["total"])) == Decimal("10.00")


def test_a_deactivated_vendor_or_sku_is_listed_inactive_and_refused_on_a_po(st: StSandbox) -> None:
    st.control("POST", "vendors/3101/active", {"active": False})
    sku = st.control("POST", "skus/55501/active", {"active": False})

    refused = st.call("POST", "inventory", "purchase-orders", json=new_po())
    materials = st.get("pricebook", "materials", active="False").json()["data"]
    vendor = st.get("inventory", "vendors/3101").json()

    assert sku["active"] is False and vendor["active"] is False
    # 55501 joins the seed's inactive pricebook materials (the onboarding master data's)
    assert 55501 in {m["id"] for m in materials} and not any(m["active"] for m in materials)
    assert refused.status_code == 400
    assert set(refused.json()["errors"]) == {"vendorId", "items[0].skuId"}
    st.control("POST", "vendors/3101/active", {"active": True})
    st.control("POST", "skus/55501/active", {"active": True})
    assert st.call("POST", "inventory", "purchase-orders", json=new_po()).status_code == 200


def test_only_vendors_skus_and_gl_accounts_are_deactivated(st: StSandbox) -> None:
    unknown = st.client.post("/_sandbox/invoices/77000005/active", json={"active": False})
    missing = st.client.post("/_sandbox/vendors/1/active", json={"active": False})
    not_a_flag = st.client.post("/_sandbox/gl-accounts/120/active", json={"active": "no"})

    assert (unknown.status_code, missing.status_code, not_a_flag.status_code) == (404, 404, 400)


def test_a_bill_item_keyed_in_again_changes_the_bill_amount_and_is_refused_when_wrong(
    st: StSandbox,
) -> None:
    st.token = fetch_token(st.client, st.config)
    [bill] = st.ok("GET", "accounting", "ap-bills", params={"pageSize": 1})["data"]
    item = bill["items"][0]
    others = sum(Decimal(i["quantity"]) * Decimal(i["cost"]) for i in bill["items"][1:])

    changed = st.control(
        "POST",
        f"inventory-bills/{bill['id']}/items/{item['order']}",
        {"quantity": 7, "cost": "2.5"},
    )
    again = st.ok("GET", "accounting", f"ap-bills/{bill['id']}")

    assert changed["billAmount"] == again["billAmount"] == f"{others + Decimal('17.5'):.2f}"
    assert (again["items"][0]["quantity"], again["items"][0]["cost"]) == ("7", "2.50")
    assert again["modifiedOn"] > bill["modifiedOn"]
    path = f"/_sandbox/inventory-bills/{bill['id']}/items"
    wrong = st.client.post(f"{path}/{item['order']}", json={"cost": "abc"})
    missing = st.client.post(f"{path}/99", json={"quantity": 1})
    assert (wrong.status_code, list(wrong.json()["errors"])) == (400, ["cost"])
    assert (missing.status_code, list(missing.json()["errors"])) == (400, ["order"])
