"""F5's bad input, each classified and kept while the rest of the period is written:
no reverse mapping for a vendor, SKU or location; a PO with no items; PO numbers with
quotes, slashes and non-ASCII letters (round-tripped through OData exactly); a PO a
person changes in IFS between the read and the write. Real HTTP, real PostgreSQL."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import httpx

from connector_dagster.defs.st_purchase_orders.spec import SPEC
from connector_dagster.engine import flow, registry
from connector_dagster.engine.records import Period
from connector_dagster.engine.session import Session
from connector_dagster.kits.purchase_orders.provenance import reference_marker
from connector_dagster.lib import mapping
from connector_dagster.lib.store import Store
from connector_dagster.systems.ifs import odata
from connector_dagster_tests.flows import support
from connector_dagster_tests.flows.st_purchase_orders.test_flow import (
    HEADERS,
    LINES,
    PERIOD,
    SYNCABLE,
    assert_same_pos,
    clear_counts,
    failed,
    ifs_raised,
    materialize,
    st_raised,
    writes,
)


def set_mapping(db_url: str, kind: str, code: str, target: object) -> None:
    store = Store(db_url)
    with Session.open("sandbox") as session:
        session.mappings()  # the file's version, loaded
    mapping.set_entry(store, "sandbox", kind, code, target, registry.tables())
    store.close()


def st_po(items: list[dict], day: str = "2026-10-12", status: str = "Sent") -> dict:
    """A PO a technician raises in ServiceTitan, then sends."""
    with Session.open("sandbox") as session:
        st = session.servicetitan
        created = st.create("inventory", "purchase-orders", {
            "vendorId": 3103, "typeId": 12, "businessUnitId": 501, "inventoryLocationId": 77,
            "shipTo": {"description": "North", "address": {
                "street": "100 Main St", "unit": "", "city": "Glendale", "state": "CA",
                "zip": "91203", "country": "USA"}},
            "impactsTechnicianPayroll": False, "memo": "field purchase",
            "date": f"{day}T00:00:00Z", "requiredOn": f"{day}T00:00:00Z", "tax": 0,
            "shipping": 0, "items": items or [{"skuId": 55501, "description": "elbow",
                                               "vendorPartNumber": "x", "quantity": 1, "cost": 1}],
        })  # fmt: skip
        if not items:
            st.patch("inventory", f"purchase-orders/{created['id']}", {"items": []})
        base = session.connection.servicetitan.api_url
    httpx.post(f"{base}/_sandbox/purchase-orders/{created['id']}/status",
               json={"status": status}, timeout=10).raise_for_status()  # fmt: skip
    with Session.open("sandbox") as session:
        return session.servicetitan.get("inventory", f"purchase-orders/{created['id']}")


def test_no_reverse_mapping_for_vendor_sku_or_location_parks_those_and_writes_the_rest(
    sandbox_connection: dict, db_env: str
) -> None:
    st = st_raised()
    syncable = {n: po for n, po in st.items() if po["status"] in SYNCABLE}
    first = next(iter(syncable.values()))
    with Session.open("sandbox") as session:
        maps = session.mappings()
    vendor_no = next(v for v, i in maps.table("vendors").items() if i == first["vendorId"])
    sku = next(i["skuId"] for po in syncable.values() for i in po["items"]
               if po["vendorId"] != first["vendorId"])  # fmt: skip
    part_no = next(p for p, i in maps.table("parts").items() if i == sku)
    site, entry = next(
        (s, e) for s, e in maps.table("sites").items()
        if e["business_unit_id"] != first["businessUnitId"]
    )  # fmt: skip
    set_mapping(db_env, "vendors", vendor_no, None)
    set_mapping(db_env, "parts", part_no, None)
    set_mapping(db_env, "sites", site, {**entry, "inventory_location_id": 999})

    assert not materialize().success
    parked = failed()
    by_id = {str(po["id"]): po for po in syncable.values()}
    expected = {
        str(po["id"])
        for po in syncable.values()
        if po["vendorId"] == first["vendorId"]
        or any(i["skuId"] == sku for i in po["items"])
        or po["businessUnitId"] == entry["business_unit_id"]
    }
    assert set(parked) == expected and len(expected) < len(syncable)
    for key, record in parked.items():
        po = by_id[key]
        assert record.reason == "mapping_missing"
        assert f"PO {po['number']!r} (ServiceTitan id {key})" in record.message
        if po["vendorId"] == first["vendorId"]:
            assert f"vendorId {po['vendorId']} has no IFS supplier" in record.message
        if any(i["skuId"] == sku for i in po["items"]):
            assert f"skuId {sku} has no IFS part" in record.message
        if po["businessUnitId"] == entry["business_unit_id"]:
            assert "has no IFS site" in record.message and "`sites` table" in record.message
    written = {n for n, po in syncable.items() if str(po["id"]) not in expected}
    assert_same_pos(st, written)

    set_mapping(db_env, "vendors", vendor_no, first["vendorId"])
    set_mapping(db_env, "parts", part_no, sku)
    set_mapping(db_env, "sites", site, entry)
    assert materialize().success
    assert failed() == {}
    assert_same_pos(st, set(syncable))


def test_a_po_with_no_items_is_parked_as_validation(sandbox_connection: dict) -> None:
    empty = st_po([])
    assert empty["items"] == []
    assert not materialize().success
    [(key, record)] = failed().items()
    assert (key, record.reason) == (str(empty["id"]), "validation")
    assert "has no items" in record.message and empty["number"] in record.message
    st = st_raised()
    assert_same_pos(st, {n for n, po in st.items() if po["status"] in SYNCABLE} - {empty["number"]})


ODD = ['O\'Brien/½ "7"', "A/B''C?#&", "Ñandú-€-ü 1"]
"""ServiceTitan PO numbers with quotes, slashes, URL characters and non-ASCII letters."""


def test_po_numbers_with_quotes_slashes_and_unicode_round_trip_through_odata(
    sandbox_connection: dict, db_env: str
) -> None:
    """Three POs of the period carry odd numbers (given in the read, as a tenant with
    such numbers would send them). Created with those numbers as OrderNo and marker;
    changed through their odd keys; found again by their marker when the ledger no
    longer knows them (adopted, never created twice)."""
    ifs_base = sandbox_connection["ifs"]["base_url"]
    with Session.open("sandbox") as session:
        reads = support.read_all(SPEC.name, session, Period.parse(PERIOD))
        pos = reads["servicetitan_purchase_orders_raised"]["purchase_orders"]
        chosen = [i for i in pos.index if pos.at[i, "status"] in SYNCABLE][:3]
        for i, number in zip(chosen, ODD, strict=True):
            pos.at[i, "number"] = number
        assert flow.write(SPEC, session, PERIOD, reads).report.failed == {}
        for number in reversed(ODD):
            row = session.ifs.get(HEADERS, {"OrderNo": number})
            assert row["Reference"] == reference_marker(number, "sandbox")

        items = reads["servicetitan_purchase_orders_raised"]["items"]
        odd_id = pos.at[chosen[0], "id"]
        first_item = items.index[items["purchaseOrderId"] == odd_id][0]
        items.at[first_item, "quantity"] = Decimal(items.at[first_item, "quantity"]) + 3
        own = items[items["purchaseOrderId"] == odd_id]
        rate = Decimal(session.mappings().table("tax_codes")[row["TaxCode"]]["rate"])
        worth = sum(Decimal(str(q)) * Decimal(str(c)) for q, c in own[["quantity", "cost"]].values)
        pos.at[chosen[0], "tax"] = str((worth * rate).quantize(Decimal("0.01")))  # as ST keeps it
        assert flow.write(SPEC, session, PERIOD, reads).report.updated == [str(odd_id)]
        lines = session.ifs.query(LINES, filter=odata.eq("OrderNo", ODD[0]),
                               keys=("OrderNo", "LineNo", "ReleaseNo"))  # fmt: skip
        line = min(lines, key=lambda r: int(r["LineNo"]))
        assert Decimal(str(line["BuyQtyDue"])) == Decimal(items.at[first_item, "quantity"])

        decoy = reference_marker(ODD[0].replace("'", "''"), "sandbox")  # quotes doubled twice
        httpx.post(f"{ifs_base}/_sandbox/create", json={"set": "PurchaseOrderSet", "values": {
            "OrderNo": "DECOY-1", "VendorNo": "V1001", "OrderDate": "2026-10-02",
            "Contract": "NORTH", "Company": "ACME01", "CurrencyCode": "USD",
            "Reference": decoy}}, timeout=10).raise_for_status()  # fmt: skip
        store = Store(db_env)
        with store.cursor() as cur:
            cur.execute("DELETE FROM connector.sync_ledger WHERE flow = 'st_purchase_orders'")
        store.close()
        clear_counts(ifs_base)
        report = flow.write(SPEC, session, PERIOD, reads).report
    assert {str(pos.at[i, "id"]) for i in chosen} <= set(report.adopted)
    assert report.created == [] and report.failed == {}
    assert writes(ifs_base) == Counter()
    headers, _ = ifs_raised()
    assert all(len(headers[n]) == 1 for n in ODD)
    assert [h["OrderNo"] for h in headers[ODD[0].replace("'", "''")]] == ["DECOY-1"]


def st_change(po: dict, more: int = 2) -> dict:
    """A ServiceTitan user adds `more` to the PO's first item (its tax follows)."""
    items = sorted(po["items"], key=lambda i: i["id"])
    with Session.open("sandbox") as session:
        rate = next(
            Decimal(e["rate"])
            for code, e in session.mappings().table("tax_codes").items()
            if code
            == {501: "TX-N", 502: "TX-S", 503: "TX-E", 504: "TX-W", 505: "TX-C"}[
                po["businessUnitId"]
            ]
        )
        body = [
            {k: i[k] for k in ("id", "skuId", "description", "vendorPartNumber", "cost")}
            | {"quantity": Decimal(str(i["quantity"])) + (more if n == 0 else 0)}
            for n, i in enumerate(items)
        ]
        worth = sum(Decimal(str(i["quantity"])) * Decimal(str(i["cost"])) for i in body)
        tax = (worth * rate).quantize(Decimal("0.01"))
        session.servicetitan.patch("inventory", f"purchase-orders/{po['id']}",
                                {"items": body, "tax": tax})  # fmt: skip
        return session.servicetitan.get("inventory", f"purchase-orders/{po['id']}")


def ifs_edit(info: dict, set_name: str, key: dict, **changes: object) -> None:
    """An IFS user changes a record in IFS."""
    httpx.post(f"{info['ifs']['base_url']}/_sandbox/edit",
               json={"set": set_name, "key": key, "changes": changes},
               timeout=10).raise_for_status()  # fmt: skip


def sent_po() -> dict:
    """A ServiceTitan PO of the period that is sent (so still changeable there)."""
    return next(po for po in st_raised().values() if po["status"] == "Sent")


def ifs_po_of(number: str) -> tuple[dict, list[dict]]:
    headers, lines = ifs_raised()
    [header] = headers[number]
    return header, lines[header["OrderNo"]]


def test_a_person_edits_the_ifs_po_between_read_and_write_and_keeps_their_edit(
    sandbox_connection: dict,
) -> None:
    """ServiceTitan changes a quantity; after the period is read, a buyer adds a note
    and moves the wanted date in IFS. The write reads the PO afresh (its ETag) and
    changes only the line: the buyer's fields stay theirs."""
    assert materialize().success
    po = st_change(sent_po())
    header, _ = ifs_po_of(po["number"])
    with Session.open("sandbox") as session:
        reads = support.read_all(SPEC.name, session, Period.parse(PERIOD))
        ifs_edit(sandbox_connection, "PurchaseOrderSet", {"OrderNo": header["OrderNo"]},
                 NoteText="Call Ann before delivery", WantedReceiptDate="2026-12-01")  # fmt: skip
        report = flow.write(SPEC, session, PERIOD, reads).report
    assert report.updated == [str(po["id"])] and report.failed == {}
    header, lines = ifs_po_of(po["number"])
    assert (header["NoteText"], header["WantedReceiptDate"]) == (
        "Call Ann before delivery", "2026-12-01"
    )  # fmt: skip
    first = min(po["items"], key=lambda i: i["id"])
    assert Decimal(str(lines[0]["BuyQtyDue"])) == Decimal(str(first["quantity"]))


def test_a_po_that_keeps_changing_in_ifs_under_the_write_is_a_conflict(
    sandbox_connection: dict,
) -> None:
    """Every write to the IFS PO meets a fresher edit by a person (412 each time): after
    the bounded re-reads it is parked as a conflict, unchanged; the next run writes it."""
    assert materialize().success
    po = st_change(sent_po())
    ifs_base = sandbox_connection["ifs"]["base_url"]
    httpx.put(f"{ifs_base}/_sandbox/faults", json={"rate_stale_etag": 1.0},
              timeout=10).raise_for_status()  # fmt: skip
    try:
        assert not materialize().success
    finally:
        httpx.put(f"{ifs_base}/_sandbox/faults", json={}, timeout=10).raise_for_status()
    [(key, record)] = failed().items()
    assert (key, record.reason) == (str(po["id"]), "conflict")
    first = min(po["items"], key=lambda i: i["id"])
    _, lines = ifs_po_of(po["number"])
    assert Decimal(str(lines[0]["BuyQtyDue"])) == Decimal(str(first["quantity"])) - 2
    assert materialize().success and failed() == {}
    _, lines = ifs_po_of(po["number"])
    assert Decimal(str(lines[0]["BuyQtyDue"])) == Decimal(str(first["quantity"]))


def test_a_po_changed_in_servicetitan_between_read_and_write_is_a_conflict(
    sandbox_connection: dict,
) -> None:
    po = sent_po()
    result = support.read_then_write(SPEC.name, PERIOD, lambda: st_change(po))
    assert result.report.failed[str(po["id"])][0] == "conflict"
    [(key, record)] = failed().items()
    assert (key, record.reason) == (str(po["id"]), "conflict")
    assert po["number"] not in ifs_raised()[0]
    assert materialize().success and failed() == {}
    assert po["number"] in ifs_raised()[0]


def test_a_po_ifs_no_longer_lets_change_is_target_locked(sandbox_connection: dict) -> None:
    assert materialize().success
    po = sent_po()
    header, lines = ifs_po_of(po["number"])
    ifs_edit(sandbox_connection, "PurchaseOrderSet", {"OrderNo": header["OrderNo"]},
             Objstate="Received")  # fmt: skip
    st_change(po)
    ifs_base = sandbox_connection["ifs"]["base_url"]
    clear_counts(ifs_base)
    assert not materialize().success
    [(key, record)] = failed().items()
    assert (key, record.reason) == (str(po["id"]), "target_locked")
    assert f"IFS purchase order {header['OrderNo']} is Received" in record.message
    assert writes(ifs_base) == Counter()
    assert ifs_po_of(po["number"])[1] == lines


def test_a_po_cancelled_in_servicetitan_waits_for_its_ifs_po_to_be_cancelled(
    sandbox_connection: dict,
) -> None:
    assert materialize().success
    po = sent_po()
    header, _ = ifs_po_of(po["number"])
    st_base = sandbox_connection["servicetitan"]["api_url"]
    httpx.post(f"{st_base}/_sandbox/purchase-orders/{po['id']}/status",
               json={"status": "Canceled"}, timeout=10).raise_for_status()  # fmt: skip
    assert not materialize().success
    [(key, record)] = failed().items()
    assert (key, record.reason) == (str(po["id"]), "rejected")
    assert "cancel it in IFS" in record.message and header["OrderNo"] in record.message
    ifs_edit(sandbox_connection, "PurchaseOrderSet", {"OrderNo": header["OrderNo"]},
             Objstate="Cancelled")  # fmt: skip
    assert materialize().success and failed() == {}


def test_an_ifs_po_entered_by_hand_with_the_number_is_never_adopted_or_changed(
    sandbox_connection: dict,
) -> None:
    """A buyer entered a ServiceTitan PO in IFS by hand, under its number (as OrderNo)
    or with the bare number as reference: the connector adopts neither and changes
    neither; each record is a conflict naming the IFS PO."""
    pos = [po for po in st_raised().values() if po["status"] in SYNCABLE][:2]
    ifs_base = sandbox_connection["ifs"]["base_url"]
    typed = [("OrderNo", pos[0]["number"], "HAND-REF"), ("Reference", "HAND-1", pos[1]["number"])]
    for _, order_no, reference in typed:
        httpx.post(f"{ifs_base}/_sandbox/create", json={"set": "PurchaseOrderSet", "values": {
            "OrderNo": order_no, "VendorNo": "V1001", "OrderDate": "2026-10-02",
            "Contract": "NORTH", "Company": "ACME01", "CurrencyCode": "USD",
            "Reference": reference}}, timeout=10).raise_for_status()  # fmt: skip
    assert not materialize().success
    parked = failed()
    assert set(parked) == {str(po["id"]) for po in pos}
    for po, (_, order_no, _) in zip(pos, typed, strict=True):
        record = parked[str(po["id"])]
        assert record.reason == "conflict" and order_no in record.message
        assert "not this connector's marker" in record.message
    with Session.open("sandbox") as session:
        for _, order_no, reference in typed:
            assert session.ifs.get(HEADERS, {"OrderNo": order_no})["Reference"] == reference
