"""Purchase orders created in the IFS simulator (flow F5): headers and part and no-part
lines on `/int/`, order numbers given or numbered by IFS, duplicates, look-ups by
reference or order number, and orders IFS no longer lets change."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connector_dagster.lib.errors import ConflictError, ErrorKind
from connector_dagster.systems.ifs import odata
from connector_dagster.systems.ifs.client import classify_ifs
from connector_dagster_tests.sandbox.ifs.support import (
    PO,
    PO_LINES,
    Ifs,
    fresh,
    project_client,
)

POS = "PurchaseOrderHandling.svc/PurchaseOrderSet"
AWKWARD = ["ST-PO 'quoted'", "ST/PO/1234", "ST-PO-Ü-99", "ST-PO-€ & #", "ST-PO-日本"]


def header(**fields: Any) -> dict[str, Any]:
    return {
        "VendorNo": "V1003",
        "OrderDate": "2026-10-12",
        "Contract": "SOUTH",
        "Company": "ACME01",
        "CurrencyCode": "USD",
        "TaxCode": "TX-S",
        "Reference": "ST PO 88001",
        **fields,
    }


def new_order(client: Ifs, **fields: Any) -> httpx.Response:
    return client.send("POST", f"{PO}/PurchaseOrderSet", header(**fields))


def order_path(order_no: str) -> str:
    return f"{PO}/PurchaseOrderSet({odata.key_predicate({'OrderNo': order_no})[1:-1]})"


def new_line(client: Ifs, order_no: str, **fields: Any) -> httpx.Response:
    body = {"OrderNo": order_no, "BuyQtyDue": 3, "BuyUnitPrice": "14.50", **fields}
    return client.send("POST", PO_LINES, body)


def edit(client: Ifs, order_no: str, **changes: Any) -> None:
    body = {"set": "PurchaseOrderSet", "key": {"OrderNo": order_no}, "changes": changes}
    client.http.post("/_sandbox/edit", json=body).raise_for_status()


# -- creates -----------------------------------------------------------------------------------


def test_an_order_with_its_own_number_is_created_planned_on_int(client: Ifs) -> None:
    response = new_order(client, OrderNo="ST-88001")

    assert response.status_code == 201, response.text
    order = response.json()
    assert (order["OrderNo"], order["Objstate"], order["Reference"]) == (
        "ST-88001",
        "Planned",
        "ST PO 88001",
    )
    assert order["DateEntered"] and order["ChangeDate"]
    assert response.headers["Location"].endswith("PurchaseOrderSet(OrderNo='ST-88001')")


def test_an_order_without_a_number_is_numbered_by_ifs(client: Ifs) -> None:
    first, second = new_order(client).json(), new_order(client).json()

    assert (first["OrderNo"], second["OrderNo"]) == ("1000001", "1000002")


def test_without_manual_numbering_a_given_order_number_is_refused(http: httpx.Client) -> None:
    client = fresh(http, po_manual_numbering=False)
    refused = new_order(client, OrderNo="ST-88001")

    assert refused.status_code == 400
    assert "NOMANUALORDERNO" in refused.json()["error"]["message"]
    assert new_order(client).json()["OrderNo"] == "1000001"


def test_a_taken_order_number_is_record_exist_which_the_client_calls_a_conflict(
    client: Ifs,
) -> None:
    new_order(client, OrderNo="ST-88001")
    again = new_order(client, OrderNo="ST-88001")
    seeded = new_order(client, OrderNo="PO-2026-00042")

    for response in (again, seeded):
        assert response.status_code == 400
        body = response.json()
        assert body["error"]["code"] == "DATABASE_ERROR"
        assert "ORA-20112: PurchaseOrder.EXIST:" in body["error"]["message"]
        assert classify_ifs(response.status_code, body) is ErrorKind.CONFLICT
    with project_client(client.http) as ifs, pytest.raises(ConflictError):
        ifs.create(POS, header(OrderNo="ST-88001"))


def test_part_and_no_part_lines_take_the_order_site_vendor_and_tax(client: Ifs) -> None:
    new_order(client, OrderNo="ST-88002")
    part = new_line(client, "ST-88002", PartNo="P-10004", Description="Ball valve 3/4in")
    service = new_line(
        client, "ST-88002", BuyQtyDue=1, BuyUnitPrice=250, Description="Crane rental, half day"
    )

    assert (part.status_code, service.status_code) == (201, 201), part.text + service.text
    lines = client.rows(f"{order_path('ST-88002')}/PurchaseOrderLineArray?$orderby=LineNo")
    assert [(x["LineNo"], x["ReleaseNo"], x["PartNo"]) for x in lines] == [
        ("1", "1", "P-10004"),
        ("2", "1", None),
    ]
    assert {(x["Contract"], x["VendorNo"], x["CurrencyCode"], x["TaxCode"]) for x in lines} == {
        ("SOUTH", "V1003", "USD", "TX-S")
    }
    assert [(x["NetAmtCurr"], x["GrossAmtCurr"]) for x in lines] == [
        (43.5, 46.87),
        (250, 269.38),
    ]
    assert [x["Objstate"] for x in lines] == ["Planned", "Planned"]


def test_lines_can_be_posted_through_the_order_and_need_an_order(client: Ifs) -> None:
    new_order(client, OrderNo="ST-88003")
    body = {"BuyQtyDue": 2, "BuyUnitPrice": 1, "PartNo": "P-10001", "OrderNo": "ignored"}
    created = client.send("POST", f"{order_path('ST-88003')}/PurchaseOrderLineArray", body)
    orphan = new_line(client, "ST-NOPE")

    assert created.status_code == 201 and created.json()["OrderNo"] == "ST-88003"
    assert orphan.status_code == 400
    assert "PurchaseOrder.NOTEXIST" in orphan.json()["error"]["message"]


def test_changing_quantity_or_price_recomputes_the_line_amounts(client: Ifs) -> None:
    new_order(client, OrderNo="ST-88004")
    line = new_line(client, "ST-88004")
    path = f"{PO_LINES}(OrderNo='ST-88004',LineNo='1',ReleaseNo='1')"
    tag = line.headers["ETag"]
    assert client.send("PATCH", path, {"BuyQtyDue": 10}, **{"If-Match": tag}).status_code == 204

    stored = client.get(path).json()
    assert (stored["NetAmtCurr"], stored["GrossAmtCurr"]) == (145, 156.24)


# -- look-ups ----------------------------------------------------------------------------------


def test_orders_are_found_by_reference_and_by_order_number_exactly(client: Ifs) -> None:
    for n, value in enumerate(AWKWARD):
        created = new_order(client, OrderNo=value, Reference=f"{value} ref{n}")
        assert created.status_code == 201, created.text
    references = [f"{value} ref{n}" for n, value in enumerate(AWKWARD)]

    with project_client(client.http, max_url_length=600) as ifs:
        by_reference = ifs.exists_by_keys(POS, "Reference", [*references, "ST-PO 'QUOTED' ref0"])
        by_number = ifs.exists_by_keys(POS, "OrderNo", [*AWKWARD, "ST/PO"])
        read = [ifs.get(POS, {"OrderNo": value})["OrderNo"] for value in AWKWARD]

    assert by_reference == set(references)
    assert by_number == set(AWKWARD)
    assert read == AWKWARD


# -- orders IFS no longer lets change ----------------------------------------------------------


@pytest.mark.parametrize("state", ["Received", "Closed", "Cancelled"])
def test_an_order_ifs_no_longer_lets_change_refuses_patch_lines_and_delete(
    client: Ifs, state: str
) -> None:
    new_order(client, OrderNo="ST-88005")
    new_line(client, "ST-88005")
    edit(client, "ST-88005", Objstate=state)
    line_path = f"{PO_LINES}(OrderNo='ST-88005',LineNo='1',ReleaseNo='1')"

    for response in (
        client.send("PATCH", order_path("ST-88005"), {"NoteText": "x"}, **{"If-Match": "*"}),
        new_line(client, "ST-88005"),
        client.send("PATCH", line_path, {"BuyQtyDue": 1}, **{"If-Match": "*"}),
        client.send("DELETE", order_path("ST-88005"), **{"If-Match": "*"}),
    ):
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "DATABASE_ERROR"
        assert error["message"] == (
            f"ORA-20110: PurchaseOrder.NOTMODIFIABLE: The PurchaseOrder ORDER_NO=ST-88005^ "
            f"is {state} and can no longer be changed."
        )
    assert client.get(order_path("ST-88005")).json()["NoteText"] is None


def test_a_released_order_is_still_updated_with_if_match(client: Ifs) -> None:
    path = order_path("PO-2026-00042")
    edit(client, "PO-2026-00042", Objstate="Released")
    tag = client.get(path).headers["ETag"]

    assert (
        client.send("PATCH", path, {"NoteText": "Gate B"}, **{"If-Match": tag}).status_code == 204
    )


def test_which_states_lock_an_order_is_a_switch(http: httpx.Client) -> None:
    client = fresh(http, po_locked_states=["Closed"])
    new_order(client, OrderNo="ST-88006")
    edit(client, "ST-88006", Objstate="Received")

    response = client.send("PATCH", order_path("ST-88006"), {"NoteText": "x"}, **{"If-Match": "*"})
    assert response.status_code == 204
    bad = client.http.put("/_sandbox/behaviour", json={"po_locked_states": ["Shipped"]})
    assert bad.status_code == 400
