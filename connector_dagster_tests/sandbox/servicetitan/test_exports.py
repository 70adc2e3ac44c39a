"""ServiceTitan simulator, what flows F3 and F4 read and mark: `markasexported`
of invoices and bills (per-row success, the external id a reader sees, another
integration's export never overwritten), the control endpoint that exports a
document elsewhere, inactive invoices in the export feed, jobs by ≤ 50 ids —
over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from connector_dagster_tests.sandbox.servicetitan.support import StSandbox


def _invoice(st: StSandbox, invoice_id: int) -> dict[str, Any]:
    [row] = st.ok("GET", "accounting", "invoices", params={"ids": invoice_id})["data"]
    return row


def _posted(st: StSandbox) -> dict[str, Any]:
    return st.ok("GET", "accounting", "invoices", params={"statuses": "Posted", "pageSize": 1})[
        "data"
    ][0]


def _mark(st: StSandbox, *rows: dict[str, Any]) -> list[dict[str, Any]]:
    return st.ok("POST", "accounting", "invoices/markasexported", json=list(rows))


def test_a_marked_invoice_shows_its_external_id_and_reaches_the_export_feed(
    st: StSandbox,
) -> None:
    invoice = _posted(st)
    head = st.ok("GET", "accounting", "export/invoices", params={"from": "2099-01-01"})

    [result] = _mark(
        st, {"invoiceId": invoice["id"], "externalId": "ACME01-V-9", "externalMessage": "ok"}
    )
    feed = st.ok("GET", "accounting", "export/invoices", params={"from": head["continueFrom"]})

    assert result == {"invoiceId": invoice["id"], "success": True, "errorMessage": None}
    after = _invoice(st, invoice["id"])
    assert (after["syncStatus"], after["exportId"]) == ("Exported", "ACME01-V-9")
    assert [(r["id"], r["exportId"]) for r in feed["data"]] == [(invoice["id"], "ACME01-V-9")]


def test_marking_again_with_the_same_external_id_succeeds_and_changes_nothing(
    st: StSandbox,
) -> None:
    invoice = _posted(st)
    row = {"invoiceId": invoice["id"], "externalId": "ACME01-V-9", "externalMessage": "ok"}
    _mark(st, row)
    first = _invoice(st, invoice["id"])

    [again] = _mark(st, row)

    assert again["success"] is True
    assert _invoice(st, invoice["id"]) == first


def test_an_invoice_exported_by_another_integration_is_visible_and_never_overwritten(
    st: StSandbox,
) -> None:
    invoice = _posted(st)

    elsewhere = st.control("POST", f"invoices/{invoice['id']}/exported", {"externalId": "QB-7781"})
    seen = _invoice(st, invoice["id"])
    [refused] = _mark(st, {"invoiceId": invoice["id"], "externalId": "ACME01-V-9"})

    assert (elsewhere["syncStatus"], elsewhere["exportId"]) == ("Exported", "QB-7781")
    assert (seen["syncStatus"], seen["exportId"]) == ("Exported", "QB-7781")
    assert refused["success"] is False
    assert '"QB-7781"' in refused["errorMessage"] and str(invoice["id"]) in refused["errorMessage"]
    assert _invoice(st, invoice["id"]) == seen


def test_unknown_and_pending_invoices_fail_in_their_rows_while_the_others_are_marked(
    st: StSandbox,
) -> None:
    invoice = _posted(st)
    pending = st.ok("GET", "accounting", "invoices", params={"statuses": "Pending"})["data"][0]

    results = _mark(
        st,
        {"invoiceId": 12345},
        {"invoiceId": pending["id"], "externalId": "ACME01-V-1"},
        {"invoiceId": invoice["id"], "externalId": "ACME01-V-2"},
    )

    assert [r["success"] for r in results] == [False, False, True]
    assert results[0]["errorMessage"] == "Invoice 12345 was not found."
    assert "Pending" in results[1]["errorMessage"]
    assert _invoice(st, pending["id"])["exportId"] is None


def test_bills_are_marked_per_kind_and_unknown_ids_are_named(st: StSandbox) -> None:
    inventory = st.ok("GET", "accounting", "inventory-bills", params={"pageSize": 1})[0]
    ap = st.ok("GET", "accounting", "ap-bills", params={"billType": "ApBill", "pageSize": 1})[
        "data"
    ][0]

    by_inventory = st.ok(
        "POST",
        "accounting",
        "inventory-bills/markasexported",
        json={"inventoryBillIds": [inventory["id"], ap["id"], 7]},
    )
    by_ap = st.ok(
        "POST",
        "accounting",
        "ap-bills/markasexported",
        json={"billIds": [ap["id"], inventory["id"], 7]},
    )

    assert [r["success"] for r in by_inventory] == [True, False, False]
    assert by_inventory[1]["errorMessage"] == f"Inventory bill {ap['id']} was not found."
    assert [r["success"] for r in by_ap] == [True, True, False]
    assert by_ap[2]["errorMessage"] == "AP bill 7 was not found."
    marked = st.ok("GET", "accounting", f"ap-bills/{ap['id']}")
    assert marked["syncStatus"] == "PostedAndExported"


def test_a_bill_exported_elsewhere_reads_as_exported_and_marking_it_again_succeeds(
    st: StSandbox,
) -> None:
    bill = st.ok("GET", "accounting", "inventory-bills", params={"pageSize": 1})[0]

    elsewhere = st.control("POST", f"inventory-bills/{bill['id']}/exported")
    [again] = st.ok(
        "POST",
        "accounting",
        "inventory-bills/markasexported",
        json={"inventoryBillIds": [bill["id"]]},
    )
    after = st.ok("GET", "accounting", "inventory-bills", params={"ids": bill["id"]})[0]

    assert elsewhere["syncStatus"] == after["syncStatus"] == "PostedAndExported"
    assert again["success"] is True
    assert after["modifiedOn"] == elsewhere["modifiedOn"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("purchase-orders/9000001/exported", 404),
        ("invoices/abc/exported", 400),
        ("invoices/1/exported", 404),
        ("ap-bills/1/exported", 404),
    ],
)
def test_bad_exported_elsewhere_requests(st: StSandbox, path: str, status: int) -> None:
    response = st.client.post(f"/_sandbox/{path}", json={})

    assert response.status_code == status
    assert response.json()["status"] == status


def test_exporting_a_pending_invoice_elsewhere_is_refused(st: StSandbox) -> None:
    pending = st.ok("GET", "accounting", "invoices", params={"statuses": "Pending"})["data"][0]

    response = st.client.post(f"/_sandbox/invoices/{pending['id']}/exported", json={})

    assert response.status_code == 400
    assert "Pending" in response.json()["errors"]["id"][0]


def test_inactive_invoices_are_in_the_export_feed_and_the_list_when_asked_for(
    st: StSandbox,
) -> None:
    feed, token, rows = {"hasMore": True}, None, []
    while feed["hasMore"]:
        params = {"from": token} if token else {}
        feed = st.ok("GET", "accounting", "export/invoices", params=params)
        rows, token = rows + feed["data"], feed["continueFrom"]
    inactive = st.ok(
        "GET", "accounting", "invoices", params={"activeState": "InactiveOnly", "pageSize": 500}
    )["data"]
    default = st.ok("GET", "accounting", "invoices", params={"ids": inactive[0]["id"]})["data"]

    exported_inactive = {r["id"] for r in rows if r["active"] is False}
    assert exported_inactive and exported_inactive == {i["id"] for i in inactive}
    assert default == []


def test_jobs_are_read_by_at_most_50_ids(st: StSandbox) -> None:
    ids = [88000001 + n for n in range(51)]

    fifty = st.ok("GET", "jpm", "jobs", params={"ids": ",".join(map(str, ids[:50]))})
    too_many = st.get("jpm", "jobs", ids=",".join(map(str, ids)))

    assert sorted(j["id"] for j in fifty["data"]) == ids[:50]
    assert too_many.status_code == 400 and "ids" in too_many.json()["errors"]


def test_batch_and_configuration_filters_narrow_the_lists(st: StSandbox) -> None:
    invoices = st.ok("GET", "accounting", "invoices", params={"pageSize": 500})["data"]
    batch = next(i["batch"]["id"] for i in invoices if i["batch"])

    by_batch = st.ok("GET", "accounting", "invoices", params={"batchNumber": batch})["data"]
    projects = st.ok(
        "GET", "accounting", "invoices", params={"invoiceConfigurations": "ProjectInvoice"}
    )["data"]
    bills = st.ok("GET", "accounting", "ap-bills", params={"batchId": batch})["data"]

    assert by_batch and {i["batch"]["id"] for i in by_batch} == {batch}
    assert projects == [] and bills == []
    assert st.get("accounting", "invoices", invoiceConfigurations="Retail").status_code == 400
