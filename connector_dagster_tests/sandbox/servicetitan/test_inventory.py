"""ServiceTitan simulator, inventory API: purchase orders (create, line-replacing
PATCH, cancellation, locked statuses), list filters and paging, the export feed,
vendors, PO types and warehouses — over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from connector_dagster.sandbox import world
from connector_dagster_tests.sandbox.servicetitan.support import (
    StSandbox,
    new_po,
    st_sandbox,
)

SEEDED_POS = 360  # 24 per month over 15 months at scale 1


@pytest.fixture(scope="module")
def seeded() -> Iterator[StSandbox]:
    """A simulator the tests only read from."""
    with st_sandbox() as sandbox:
        yield sandbox


def _create(st: StSandbox, **overrides: object) -> dict:
    created = st.ok("POST", "inventory", "purchase-orders", json=new_po(**overrides))
    return st.ok("GET", "inventory", f"purchase-orders/{created['id']}")


def test_create_returns_the_id_and_the_po_reads_back_in_servicetitan_shape(st: StSandbox) -> None:
    response = st.call("POST", "inventory", "purchase-orders", json=new_po())

    assert response.status_code == 200
    assert set(response.json()) == {"id"}
    po = st.ok("GET", "inventory", f"purchase-orders/{response.json()['id']}")
    assert po["number"] == f"PO-{SEEDED_POS + 1:06d}"
    assert po["status"] == "Pending"
    assert po["summary"] == "ERP PO 4500012345"  # memo comes back as summary
    assert po["vendorDocumentNumber"] == "F-88812"  # vendorInvoiceNumber
    assert po["total"] == pytest.approx(10 * 2.35 + 2 * 14.5 + 12.5 + 25.0)
    assert po["shipTo"] == new_po()["shipTo"]["address"]
    assert po["date"] == "2026-03-01T00:00:00Z"
    assert [i["skuCode"] for i in po["items"]] == ["P-10001", "P-10004"]
    assert po["items"][0]["total"] == pytest.approx(23.5)


def test_numbers_are_assigned_in_sequence(st: StSandbox) -> None:
    first, second = _create(st), _create(st)

    assert (first["number"], second["number"]) == ("PO-000361", "PO-000362")


def test_create_without_required_fields_is_400_naming_each(st: StSandbox) -> None:
    body = new_po()
    del body["vendorId"], body["shipTo"]["address"]["zip"]
    body["items"][0].pop("cost")

    response = st.call("POST", "inventory", "purchase-orders", json=body)

    assert response.status_code == 400
    assert {"vendorId", "shipTo.address.zip", "items[0].cost"} <= set(response.json()["errors"])


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"vendorId": 9999}, "vendorId"),
        ({"vendorId": 3120}, "vendorId"),  # Würth: inactive
        ({"typeId": 99}, "typeId"),
        ({"typeId": 15}, "typeId"),  # retired PO type
        ({"businessUnitId": 777}, "businessUnitId"),
        ({"businessUnitId": 509}, "businessUnitId"),  # inactive business unit
        ({"inventoryLocationId": 12}, "inventoryLocationId"),
        ({"jobId": 1}, "jobId"),
        ({"customFields": []}, "customFields"),  # not in CreatePurchaseOrderRequest
        ({"tax": "12.50"}, "tax"),  # a number, not a string
    ],
)
def test_create_rejects_unknown_or_inactive_references(
    st: StSandbox, overrides: dict, field: str
) -> None:
    response = st.call("POST", "inventory", "purchase-orders", json=new_po(**overrides))

    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_create_rejects_a_sku_that_is_not_material_or_equipment(st: StSandbox) -> None:
    body = new_po()
    body["items"][1]["skuId"] = 61001  # a service

    response = st.call("POST", "inventory", "purchase-orders", json=body)

    assert response.status_code == 400
    assert "items[1].skuId" in response.json()["errors"]


def test_patch_items_replaces_the_active_lines(st: StSandbox) -> None:
    po = _create(st)
    keep, drop = po["items"]
    patch = {
        "memo": "ERP PO 4500012345 rev 2",
        "items": [
            {
                **{k: keep[k] for k in ("id", "skuId", "description", "vendorPartNumber")},
                "quantity": 12,
                "cost": 2.40,
            },
            {
                "id": 0,
                "skuId": 55508,
                "description": "Capacitor 45/5 uF",
                "vendorPartNumber": "CAP-455",
                "quantity": 3,
                "cost": 18.4,
            },
            {
                "skuId": 55509,
                "description": "Contactor 2-pole 30A",
                "vendorPartNumber": "CON-30",
                "quantity": 1,
                "cost": 24.1,
            },
        ],
    }

    assert st.ok("PATCH", "inventory", f"purchase-orders/{po['id']}", json=patch) == {
        "id": po["id"]
    }

    after = st.ok("GET", "inventory", f"purchase-orders/{po['id']}")
    lines = {i["skuId"]: i for i in after["items"]}
    assert set(lines) == {55501, 55508, 55509}
    assert lines[55501]["id"] == keep["id"] and lines[55501]["quantity"] == 12
    assert drop["id"] not in {i["id"] for i in after["items"]}
    assert after["summary"] == "ERP PO 4500012345 rev 2"
    assert after["total"] == pytest.approx(12 * 2.40 + 3 * 18.4 + 24.1 + 12.5 + 25.0)
    assert after["modifiedOn"] > po["modifiedOn"]
    raw = st.control("GET", f"entities/purchase-orders?ids={po['id']}")[0]
    assert [i["id"] for i in raw["_sandbox"]["inactiveItems"]] == [drop["id"]]


def test_patch_naming_a_line_of_another_po_is_400(st: StSandbox) -> None:
    po = _create(st)
    item = {**po["items"][0], "id": 4400001}
    body = {
        "items": [
            {
                k: item[k]
                for k in ("id", "skuId", "description", "vendorPartNumber", "quantity", "cost")
            }
        ]
    }

    response = st.call("PATCH", "inventory", f"purchase-orders/{po['id']}", json=body)

    assert response.status_code == 400
    assert "items[0].id" in response.json()["errors"]


def test_patch_without_items_keeps_the_lines(st: StSandbox) -> None:
    po = _create(st)

    st.ok("PATCH", "inventory", f"purchase-orders/{po['id']}", json={"shipping": 40.0})

    after = st.ok("GET", "inventory", f"purchase-orders/{po['id']}")
    assert [i["id"] for i in after["items"]] == [i["id"] for i in po["items"]]
    assert after["shipping"] == 40.0


@pytest.mark.parametrize("status", ["Received", "Exported", "Canceled"])
def test_a_received_exported_or_canceled_po_refuses_changes(st: StSandbox, status: str) -> None:
    po = _create(st)
    st.control("POST", f"purchase-orders/{po['id']}/status", {"status": status})

    patch = st.call("PATCH", "inventory", f"purchase-orders/{po['id']}", json={"memo": "late"})
    cancel = st.call("PATCH", "inventory", f"purchase-orders/{po['id']}/cancellation", json={})

    for response in (patch, cancel):
        assert response.status_code == 400
        assert status in response.json()["title"]
        assert "status" in response.json()["errors"]


def test_cancellation_sets_canceled_with_the_reason(st: StSandbox) -> None:
    po = _create(st)

    st.ok(
        "PATCH",
        "inventory",
        f"purchase-orders/{po['id']}/cancellation",
        json={"canceledReason": "Duplicate"},
    )

    raw = st.control("GET", f"entities/purchase-orders?ids={po['id']}")[0]
    assert raw["status"] == "Canceled"
    assert raw["_sandbox"]["canceledReason"] == "Duplicate"
    assert {i["status"] for i in raw["items"]} == {"Canceled"}


def test_cancellation_with_an_unknown_reason_is_400(st: StSandbox) -> None:
    po = _create(st)

    response = st.call(
        "PATCH",
        "inventory",
        f"purchase-orders/{po['id']}/cancellation",
        json={"canceledReason": "Bored"},
    )

    assert response.status_code == 400


def test_unknown_po_is_404(seeded: StSandbox) -> None:
    assert seeded.get("inventory", "purchase-orders/1").status_code == 404
    assert seeded.get("inventory", "purchase-orders/abc").status_code == 404


def test_list_pages_with_total_only_on_request(seeded: StSandbox) -> None:
    first = seeded.ok("GET", "inventory", "purchase-orders", params={"pageSize": 100})
    last = seeded.ok(
        "GET",
        "inventory",
        "purchase-orders",
        params={"pageSize": 100, "page": 4, "includeTotal": "true"},
    )

    assert (first["page"], first["pageSize"], first["hasMore"], first["totalCount"]) == (
        1,
        100,
        True,
        None,
    )
    assert (last["hasMore"], last["totalCount"], len(last["data"])) == (False, SEEDED_POS, 60)


def test_page_size_is_capped_by_config() -> None:
    with st_sandbox(st_page_size_max=25) as st:
        body = st.ok("GET", "inventory", "purchase-orders", params={"pageSize": 1000})

    assert (body["pageSize"], len(body["data"])) == (25, 25)


def test_ids_filter_takes_up_to_50(seeded: StSandbox) -> None:
    ids = list(range(9000001, 9000051))

    fifty = seeded.get("inventory", "purchase-orders", ids=",".join(map(str, ids)))
    fifty_one = seeded.get("inventory", "purchase-orders", ids=",".join(map(str, [*ids, 9000051])))

    assert [po["id"] for po in fifty.json()["data"]] == ids
    assert fifty_one.status_code == 400
    assert "ids" in fifty_one.json()["errors"]


def test_status_number_and_date_filters(seeded: StSandbox) -> None:
    canceled = seeded.ok(
        "GET", "inventory", "purchase-orders", params={"status": "Canceled", "pageSize": 500}
    )["data"]
    by_number = seeded.ok("GET", "inventory", "purchase-orders", params={"number": "PO-000007"})
    october = seeded.ok(
        "GET",
        "inventory",
        "purchase-orders",
        params={"dateOnOrAfter": "2025-10-01", "dateBefore": "2025-11-01", "pageSize": 500},
    )["data"]
    modified = seeded.ok(
        "GET",
        "inventory",
        "purchase-orders",
        params={"modifiedOnOrAfter": "2026-12-01T00:00:00Z", "pageSize": 500},
    )["data"]

    assert len(canceled) == 15 and {p["status"] for p in canceled} == {"Canceled"}
    assert [p["number"] for p in by_number["data"]] == ["PO-000007"]
    assert len(october) == 24 and all(p["date"].startswith("2025-10") for p in october)
    assert modified and all(p["modifiedOn"] >= "2026-12-01" for p in modified)


def test_sort_by_modified_on_descending(seeded: StSandbox) -> None:
    data = seeded.ok(
        "GET", "inventory", "purchase-orders", params={"sort": "-ModifiedOn", "pageSize": 50}
    )["data"]

    stamps = [p["modifiedOn"] for p in data]
    assert stamps == sorted(stamps, reverse=True)
    assert seeded.get("inventory", "purchase-orders", sort="+Vendor").status_code == 400


def test_bad_date_filter_is_400(seeded: StSandbox) -> None:
    response = seeded.get("inventory", "purchase-orders", createdOnOrAfter="yesterday")

    assert response.status_code == 400
    assert "createdOnOrAfter" in response.json()["errors"]


def _drain(st: StSandbox, start: str | None = None) -> tuple[list[dict], str, int]:
    rows, token, calls = [], start, 0
    while True:
        params = {"from": token} if token else {}
        feed = st.ok("GET", "inventory", "export/purchase-orders", params=params)
        rows += feed["data"]
        token, calls = feed["continueFrom"], calls + 1
        if not feed["hasMore"]:
            return rows, token, calls


def test_export_feed_pages_with_continue_from_and_then_sees_only_changes() -> None:
    with st_sandbox(st_page_size_max=100) as st:
        rows, token, calls = _drain(st)
        assert (len(rows), calls) == (SEEDED_POS, 4)
        assert len({r["id"] for r in rows}) == SEEDED_POS

        po = _create(st)
        open_po = next(r for r in rows if r["status"] == "Sent")
        st.ok("PATCH", "inventory", f"purchase-orders/{open_po['id']}", json={"shipping": 1.0})
        changed, _, _ = _drain(st, token)

    assert [r["id"] for r in changed] == [po["id"], open_po["id"]]


def test_export_from_a_date_starts_at_that_modified_on(seeded: StSandbox) -> None:
    feed = seeded.ok("GET", "inventory", "export/purchase-orders", params={"from": "2026-12-01"})

    assert feed["data"] and all(r["modifiedOn"] >= "2026-12-01" for r in feed["data"])


def test_export_with_recent_changes_repeats_the_last_row(seeded: StSandbox) -> None:
    params = {"from": "2026-12-20", "includeRecentChanges": "true"}
    first = seeded.ok("GET", "inventory", "export/purchase-orders", params=params)
    again = seeded.ok(
        "GET",
        "inventory",
        "export/purchase-orders",
        params={"from": first["continueFrom"], "includeRecentChanges": "true"},
    )

    assert first["hasMore"] is False
    assert [r["id"] for r in again["data"]] == [first["data"][-1]["id"]]


def test_export_with_a_garbage_token_is_400(seeded: StSandbox) -> None:
    assert seeded.get("inventory", "export/purchase-orders", **{"from": "%%%"}).status_code == 400


def test_vendors_are_active_by_default_and_all_with_active_any(seeded: StSandbox) -> None:
    active = seeded.ok("GET", "inventory", "vendors")["data"]
    everyone = seeded.ok("GET", "inventory", "vendors", params={"active": "Any"})["data"]
    inactive = seeded.ok("GET", "inventory", "vendors", params={"active": "False"})["data"]

    extra = world.ST_EXTRA_VENDORS  # onboarding's master data, after the mapped vendors
    assert len(active) == len(world.VENDORS) - 1 + sum(v.active for v in extra)
    assert [v["id"] for v in everyone] == [v.st_vendor_id for v in world.VENDORS] + [
        int(v.code) for v in extra
    ]
    assert [v["name"] for v in inactive] == ["Würth Industrie (inactive)"] + [
        v.name for v in extra if not v.active
    ]
    names = {v["name"] for v in everyone}
    assert {"O'Brien Pipe & Valve", 'Watsco "West"', "Ñandú Plumbing Parts"} <= names


def test_vendor_ids_filter_accepts_repeated_parameters(seeded: StSandbox) -> None:
    response = seeded.call("GET", "inventory", "vendors", params=[("ids", 3101), ("ids", 3103)])

    assert [v["id"] for v in response.json()["data"]] == [3101, 3103]
    assert seeded.ok("GET", "inventory", "vendors/3120")["active"] is False
    assert seeded.get("inventory", "vendors/1").status_code == 404


def test_po_types_and_warehouses_come_from_world(seeded: StSandbox) -> None:
    types = seeded.ok("GET", "inventory", "purchase-order-types")["data"]
    warehouses = seeded.ok("GET", "inventory", "warehouses")["data"]

    assert [(t["id"], t["name"]) for t in types] == list(world.PO_TYPES)
    active_extra = [int(w.code) for w in world.ST_EXTRA_WAREHOUSES if w.active]
    assert [w["id"] for w in warehouses] == [
        r.st_warehouse_id for r in world.REGIONS
    ] + active_extra
    datetime.fromisoformat(warehouses[0]["createdOn"])  # RFC 3339, parseable


def test_pages_of_a_list_see_a_change_made_between_them(st: StSandbox) -> None:
    """A list's result is kept for its next pages only while no data changes: a PO
    created, or moved to another status by the control API, between two pages shows."""
    query = {"status": "Pending", "sort": "+Id", "pageSize": 5, "includeTotal": "true"}
    first = st.ok("GET", "inventory", "purchase-orders", params={**query, "page": 1})
    created = _create(st)
    again = st.ok("GET", "inventory", "purchase-orders", params={**query, "page": 1})
    assert again["totalCount"] == first["totalCount"] + 1

    moved = first["data"][0]["id"]
    st.control("POST", f"purchase-orders/{moved}/status", {"status": "Sent"})
    after = st.ok("GET", "inventory", "purchase-orders", params={**query, "page": 1})
    assert after["totalCount"] == again["totalCount"] - 1
    pages = range(1, -(-after["totalCount"] // 5) + 1)
    ids = [
        po["id"]
        for n in pages
        for po in st.ok("GET", "inventory", "purchase-orders", params={**query, "page": n})["data"]
    ]
    assert moved not in ids and ids[-1] == created["id"] and len(ids) == after["totalCount"]
