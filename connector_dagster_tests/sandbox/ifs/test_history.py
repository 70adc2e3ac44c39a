"""The IFS simulator's History Log (`HistoryLogHandling.svc/HistoryLogOverviewSet`) over
real HTTP: a row per insert, update and delete, filtered by LuName and TimeStamp,
ordered and paged like any set, seeded with an Insert per seeded record."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from connector_dagster.systems.ifs import odata
from connector_dagster_tests.sandbox.ifs.support import (
    HISTORY,
    PO,
    PO_LINES,
    Ifs,
    fresh,
    iter_pages,
    project_client,
    simulator,
)

CLOCK = "2026-06-15T12:00:00Z"
OVERVIEW = "HistoryLogHandling.svc/HistoryLogOverviewSet"
SEEDED = {
    "PurchaseOrderSet": "PurchaseOrder",
    "PurchaseOrderLineSet": "PurchaseOrderLine",
    "PostingProposalSet": "PostingProposalHead",
    "PostingProposalLineSet": "PostingProposalLine",
}


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with simulator(now=CLOCK) as http:
        yield http


def last_log_id(client: Ifs) -> int:
    return client.rows(f"{HISTORY}?$orderby=LogId desc&$top=1&$select=LogId")[0]["LogId"]


def since(client: Ifs, log_id: int) -> list[dict[str, Any]]:
    return client.rows(f"{HISTORY}?$filter=LogId gt {log_id}&$orderby=LogId")


def objversion_instant(objversion: str) -> str:
    moment = datetime.strptime(objversion, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    return moment.isoformat().replace("+00:00", "Z")


def test_every_seeded_record_has_an_insert_dated_by_its_objversion(client: Ifs) -> None:
    log = list(iter_pages(client, HISTORY))

    expected = sorted(
        (lu, record["keyref"], objversion_instant(record["Objversion"]))
        for set_name, lu in SEEDED.items()
        for record in client.raw(set_name)
    )
    assert sorted((r["LuName"], r["Keys"], r["TimeStamp"]) for r in log) == expected
    assert {(r["HistoryType"], r["Username"]) for r in log} == {("Insert", "IFSAPP")}
    assert [r["LogId"] for r in log] == list(range(1, len(log) + 1))
    assert [r["TimeStamp"] for r in log] == sorted(r["TimeStamp"] for r in log)
    assert max(r["TimeStamp"] for r in log) <= CLOCK


def test_filter_by_lu_and_time_stamp_as_a_change_poll_does(client: Ifs) -> None:
    cutoff = datetime(2026, 5, 31, 12, tzinfo=UTC)
    with project_client(client.http) as ifs:
        polled = list(
            ifs.query(
                OVERVIEW,
                filter=odata.and_(
                    odata.eq("LuName", "PurchaseOrder"), odata.gt("TimeStamp", cutoff)
                ),
                orderby=["TimeStamp", "LogId"],
                keys=("LogId",),
            )
        )

    wanted = {
        o["keyref"]
        for o in client.raw("PurchaseOrderSet")
        if objversion_instant(o["Objversion"]) > "2026-05-31T12:00:00Z"
    }
    assert polled and {r["Keys"] for r in polled} == wanted
    assert all(r["LuName"] == "PurchaseOrder" for r in polled)


def test_api_writes_and_user_edits_append_rows_in_order(client: Ifs) -> None:
    start = last_log_id(client)
    order = {
        "OrderNo": "ST-1",
        "VendorNo": "V1001",
        "OrderDate": "2026-06-10",
        "Contract": "NORTH",
        "Company": "ACME01",
        "CurrencyCode": "USD",
    }
    created = client.send("POST", f"{PO}/PurchaseOrderSet", order)
    line = client.send("POST", PO_LINES, {"OrderNo": "ST-1", "BuyQtyDue": 1, "BuyUnitPrice": 2})
    path = f"{PO}/PurchaseOrderSet(OrderNo='ST-1')"
    patched = client.send("PATCH", path, {"NoteText": "x"}, **{"If-Match": created.headers["ETag"]})
    edit = {
        "set": "PurchaseOrderSet",
        "key": {"OrderNo": "ST-1"},
        "changes": {"Objstate": "Released"},
    }
    client.http.post("/_sandbox/edit", json=edit)
    current = client.get(path)
    client.send("DELETE", path, **{"If-Match": current.headers["ETag"]})

    rows = since(client, start)
    assert [(r["LuName"], r["HistoryType"], r["Username"]) for r in rows] == [
        ("PurchaseOrder", "Insert", "CONNECTOR_SVC"),
        ("PurchaseOrderLine", "Insert", "CONNECTOR_SVC"),
        ("PurchaseOrder", "Update", "CONNECTOR_SVC"),
        ("PurchaseOrder", "Update", "IFSAPP"),
        ("PurchaseOrderLine", "Delete", "CONNECTOR_SVC"),
        ("PurchaseOrder", "Delete", "CONNECTOR_SVC"),
    ]
    assert [r["Keys"] for r in rows] == [
        "ORDER_NO=ST-1^",
        "ORDER_NO=ST-1^LINE_NO=1^RELEASE_NO=1^",
        "ORDER_NO=ST-1^",
        "ORDER_NO=ST-1^",
        "ORDER_NO=ST-1^LINE_NO=1^RELEASE_NO=1^",
        "ORDER_NO=ST-1^",
    ]
    assert rows[0]["TimeStamp"] == objversion_instant(created.json()["Objversion"])
    assert rows[1]["TimeStamp"] == objversion_instant(line.json()["Objversion"])
    assert rows[3]["TimeStamp"] == objversion_instant(current.json()["Objversion"])
    assert patched.status_code == 204


def test_a_poll_with_nothing_changed_reads_nothing(client: Ifs) -> None:
    start = last_log_id(client)
    assert since(client, start) == []
    client.http.post(
        "/_sandbox/edit", json={"set": "PurchaseOrderSet", "key": {"OrderNo": "PO-2026-00042"}}
    )
    assert [r["Keys"] for r in since(client, start)] == ["ORDER_NO=PO-2026-00042^"]


def test_a_concurrent_edit_injected_before_a_write_is_logged_too(client: Ifs) -> None:
    start = last_log_id(client)
    path = f"{PO}/PurchaseOrderSet(OrderNo='PO-2026-00042')"
    tag = client.get(path).headers["ETag"]
    client.http.put("/_sandbox/faults", json={"rate_stale_etag": 1.0, "seed": 1})

    assert client.send("PATCH", path, {"NoteText": "x"}, **{"If-Match": tag}).status_code == 412
    assert [(r["HistoryType"], r["Username"]) for r in since(client, start)] == [
        ("Update", "IFSAPP")
    ]


def test_the_log_orders_pages_and_reads_by_key(http: httpx.Client) -> None:
    client = fresh(http, page_size=100)
    try:
        first = client.get(f"{HISTORY}?$orderby=TimeStamp desc,LogId desc").json()
        assert len(first["value"]) == 100 and "$skiptoken=100" in first["@odata.nextLink"]
        stamps = [r["TimeStamp"] for r in first["value"]]
        assert stamps == sorted(stamps, reverse=True)
        page = client.rows(f"{HISTORY}?$orderby=LogId&$top=5&$skip=10")
        assert [r["LogId"] for r in page] == list(range(11, 16))
        one = client.get(f"{HISTORY}(LogId=12)")
        assert one.status_code == 200 and one.json()["LogId"] == 12
    finally:
        http.put("/_sandbox/behaviour", json={"page_size": 500})


def test_the_log_is_read_only(client: Ifs) -> None:
    assert client.send("POST", HISTORY, {"LuName": "X"}).status_code == 405
    assert (
        client.send(
            "PATCH", f"{HISTORY}(LogId=1)", {"LuName": "X"}, **{"If-Match": "*"}
        ).status_code
        == 405
    )
    assert client.send("DELETE", f"{HISTORY}(LogId=1)", **{"If-Match": "*"}).status_code == 405
    edit = {"set": "HistoryLogOverviewSet", "key": {"LogId": 1}, "changes": {"LuName": "X"}}
    assert client.http.post("/_sandbox/edit", json=edit).status_code == 400


def test_a_reset_brings_the_seeded_log_back(client: Ifs) -> None:
    seeded = last_log_id(client)
    client.http.post(
        "/_sandbox/edit", json={"set": "PurchaseOrderSet", "key": {"OrderNo": "PO-2026-00042"}}
    )
    assert last_log_id(client) == seeded + 1
    client.http.post("/_sandbox/reset")
    assert last_log_id(Ifs(client.http)) == seeded


def test_the_metadata_names_the_history_log(client: Ifs) -> None:
    text = client.get(HISTORY.rsplit("/", 1)[0] + "/$metadata").text
    assert 'Namespace="IfsApp.HistoryLogHandling"' in text
    assert '<Property Name="TimeStamp" Type="Edm.DateTimeOffset"/>' in text
