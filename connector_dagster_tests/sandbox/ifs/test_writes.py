"""The IFS simulator over real HTTP: writes, If-Match, CSRF, closed periods, faults, control."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from connector_dagster.sandbox.faults import FaultProfile
from connector_dagster.sandbox.ifs import app as ifs
from connector_dagster.sandbox.server import running
from connector_dagster_tests.sandbox.ifs.support import PO, Ifs, decode_etag, make_config

EV = "/int/ifsapplications/projection/v1/ExternalVoucherHandling.svc"
VOUCHERS = f"{EV}/ExternalVoucherSet"
ROWS = f"{EV}/ExternalVoucherRowSet"


def new_voucher(client: Ifs, **fields: Any) -> httpx.Response:
    body = {
        "Company": "ACME01",
        "VoucherDate": "2026-11-05",
        "VoucherType": "GL",
        "Text": "ServiceTitan invoice 77000123",
        "Reference": "ST-INV-77000123",
        **fields,
    }
    return client.send("POST", VOUCHERS, body)


def voucher(load_id: str) -> str:
    return f"{VOUCHERS}(Company='ACME01',LoadId='{load_id}')"


def new_row(client: Ifs, load_id: str = "1", **fields: Any) -> httpx.Response:
    body = {
        "Company": "ACME01",
        "LoadId": load_id,
        "Account": "1200",
        "CodeB": "CC100",
        "CurrencyDebetAmount": 107.5,
        "Text": "Receivable",
        **fields,
    }
    return client.send("POST", ROWS, body)


# -- create ------------------------------------------------------------------------------------


def test_create_returns_201_with_the_entity_etag_and_location(client: Ifs) -> None:
    response = new_voucher(client)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["LoadId"], body["Objstate"]) == ("1", "Loaded")
    assert response.headers["ETag"] == body["@odata.etag"]
    assert response.headers["Location"].endswith("ExternalVoucherSet(Company='ACME01',LoadId='1')")
    assert body["keyref"] == "COMPANY=ACME01^LOAD_ID=1^"
    assert client.get(voucher("1")).json()["Reference"] == "ST-INV-77000123"
    assert new_voucher(client, Reference="ST-INV-77000124").json()["LoadId"] == "2"


def test_rows_are_numbered_per_voucher(client: Ifs) -> None:
    new_voucher(client)
    first = new_row(client)
    second = new_row(client, Account="4020", CurrencyDebetAmount=None, CurrencyCreditAmount=107.5)
    assert (first.status_code, second.status_code) == (201, 201)
    assert (first.json()["RowNo"], second.json()["RowNo"]) == (1, 2)
    found = client.rows(f"{ROWS}?$filter=LoadId eq '1'&$orderby=RowNo")
    assert [r["Account"] for r in found] == ["1200", "4020"]


def test_decimal_amounts_round_trip_exactly(client: Ifs) -> None:
    new_voucher(client)
    new_row(client, CurrencyDebetAmount="1234567.89")
    accept = "application/json;IEEE754Compatible=true"
    row = client.get(f"{ROWS}(Company='ACME01',LoadId='1',RowNo=1)", Accept=accept).json()
    assert row["CurrencyDebetAmount"] == "1234567.89"


def test_existing_key_is_400_database_error(client: Ifs) -> None:
    assert new_voucher(client, LoadId="L-1").status_code == 201
    again = new_voucher(client, LoadId="L-1")
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "DATABASE_ERROR"
    assert "already exists" in again.json()["error"]["message"]


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"LoadId": "99"}, "does not exist"),
        ({"Account": "9999"}, "Account 9999 does not exist"),
        ({"CodeB": "CC999"}, "CC999 does not exist"),
        ({"Account": None}, "mandatory"),
    ],
)
def test_rows_that_break_ifs_rules_are_400_database_error(
    client: Ifs, fields: dict[str, Any], words: str
) -> None:
    new_voucher(client)
    response = new_row(client, **fields)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "DATABASE_ERROR"
    assert words in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"Company": "ACME01"}', "text/plain"),
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"Company": "ACME01", "NoSuchField": 1}', "application/json"),
        (b'{"Company": "ACME01", "VoucherDate": "5 Nov 2026"}', "application/json"),
        (b'{"Company": "ACME01", "Text": "' + b"x" * 201 + b'"}', "application/json"),
    ],
)
def test_bad_bodies_are_400_odp_deserialization_error(
    client: Ifs, body: bytes, content_type: str
) -> None:
    response = client.send("POST", VOUCHERS, body, **{"Content-Type": content_type})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "ODP_DESERIALIZATION_ERROR"


def test_objstate_and_keys_are_not_updatable(client: Ifs) -> None:
    tag = new_voucher(client).headers["ETag"]
    for change in ({"Objstate": "Created"}, {"LoadId": "7"}):
        response = client.send("PATCH", voucher("1"), change, **{"If-Match": tag})
        assert response.status_code == 400
        assert "not updatable" in response.json()["error"]["message"]


# -- CSRF --------------------------------------------------------------------------------------


@pytest.mark.parametrize("tier", ["main", "b2b"])
def test_writes_on_main_and_b2b_need_an_xsrf_header(client: Ifs, tier: str) -> None:
    path = f"/{tier}/ifsapplications/projection/v1/ExternalVoucherHandling.svc/ExternalVoucherSet"
    body = {"Company": "ACME01", "VoucherDate": "2026-11-05", "VoucherType": "GL"}
    refused = client.send("POST", path, body)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "CSRF_ERROR"
    assert client.send("POST", path, body, **{"X-XSRF-TOKEN": "t0k3n"}).status_code == 201
    assert client.get(path).status_code == 200


def test_csrf_check_can_be_switched_off(client: Ifs) -> None:
    client.http.put("/_sandbox/behaviour", json={"csrf_on_main": False})
    path = "/main/ifsapplications/projection/v1/ExternalVoucherHandling.svc/ExternalVoucherSet"
    body = {"Company": "ACME01", "VoucherDate": "2026-11-05", "VoucherType": "GL"}
    assert client.send("POST", path, body).status_code == 201


# -- If-Match ----------------------------------------------------------------------------------


def test_patch_with_the_current_etag_updates_and_changes_the_etag(client: Ifs) -> None:
    tag = new_voucher(client).headers["ETag"]
    response = client.send("PATCH", voucher("1"), {"Text": "corrected"}, **{"If-Match": tag})
    assert response.status_code == 204
    assert response.headers["ETag"] != tag
    current = client.get(voucher("1"))
    assert current.json()["Text"] == "corrected"
    assert current.headers["ETag"] == response.headers["ETag"]


def test_stale_if_match_is_412(client: Ifs) -> None:
    stale = new_voucher(client).headers["ETag"]
    client.send("PATCH", voucher("1"), {"Text": "first edit"}, **{"If-Match": stale})
    response = client.send("PATCH", voucher("1"), {"Text": "second edit"}, **{"If-Match": stale})
    assert response.status_code == 412
    assert response.json()["error"]["code"] == "ODP_PRECONDITION_FAILED"
    assert client.get(voucher("1")).json()["Text"] == "first edit"


def test_if_match_star_skips_the_check(client: Ifs) -> None:
    new_voucher(client)
    client.http.post(
        "/_sandbox/edit",
        json={"set": "ExternalVoucherSet", "key": {"Company": "ACME01", "LoadId": "1"}},
    )
    response = client.send("PATCH", voucher("1"), {"Text": "anyway"}, **{"If-Match": "*"})
    assert response.status_code == 204


def test_prefer_return_representation_answers_200_with_the_entity(client: Ifs) -> None:
    tag = new_voucher(client).headers["ETag"]
    headers = {"If-Match": tag, "Prefer": "return=representation"}
    response = client.send("PATCH", voucher("1"), {"Text": "shown"}, **headers)
    assert response.status_code == 200
    assert response.json()["Text"] == "shown"


def test_patch_without_if_match_upserts(client: Ifs) -> None:
    new_voucher(client)
    updated = client.send("PATCH", voucher("1"), {"Text": "no etag"})
    assert updated.status_code == 204
    created = client.send(
        "PATCH",
        voucher("ST-9"),
        {"LoadId": "ignored", "VoucherDate": "2026-11-06", "VoucherType": "GL"},
    )
    assert created.status_code == 201
    assert created.json()["LoadId"] == "ST-9"
    assert client.get(voucher("1")).json()["Text"] == "no etag"


def test_missing_if_match_is_428_in_428_mode(client: Ifs) -> None:
    client.http.put("/_sandbox/behaviour", json={"missing_if_match": "428"})
    new_voucher(client)
    for method, body in (("PATCH", {"Text": "x"}), ("DELETE", None)):
        response = client.send(method, voucher("1"), body)
        assert response.status_code == 428
        assert response.json()["error"]["code"] == "ODP_MISSING_PRECONDITION"


def test_missing_if_match_mode_comes_from_the_config() -> None:
    app = ifs.create_app(make_config(ifs_missing_if_match="428"), FaultProfile())
    with running(app) as url:
        assert httpx.get(url + "/_sandbox/behaviour").json()["missing_if_match"] == "428"


def test_objversion_strictly_increases_within_one_second(client: Ifs) -> None:
    new_voucher(client)
    versions = []
    for n in range(4):
        client.send("PATCH", voucher("1"), {"Text": f"edit {n}"}, **{"If-Match": "*"})
        versions.append(client.get(voucher("1")).json()["Objversion"])
    assert versions == sorted(versions) and len(set(versions)) == 4


def test_delete_with_if_match_removes_the_voucher_and_its_rows(client: Ifs) -> None:
    tag = new_voucher(client).headers["ETag"]
    new_row(client)
    client.send("PATCH", voucher("1"), {"Text": "moved on"}, **{"If-Match": tag})
    assert client.send("DELETE", voucher("1"), **{"If-Match": tag}).status_code == 412
    current = client.get(voucher("1")).headers["ETag"]
    assert client.send("DELETE", voucher("1"), **{"If-Match": current}).status_code == 204
    assert client.get(voucher("1")).status_code == 404
    assert client.rows(ROWS) == []


# -- closed periods and faults -----------------------------------------------------------------


def test_voucher_in_a_closed_period_is_400_database_error(client: Ifs) -> None:
    new_voucher(client, VoucherDate="2026-09-30")
    client.http.put("/_sandbox/faults", json={"closed_periods": ["2026-09", "2026-10"]})
    for response in (
        new_voucher(client, VoucherDate="2026-10-15"),
        new_row(client, load_id="1"),
        client.send("PATCH", voucher("1"), {"Text": "late"}, **{"If-Match": "*"}),
    ):
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "DATABASE_ERROR"
        assert "is closed" in error["message"] and "period 2026-" in error["message"]
    assert new_voucher(client, VoucherDate="2026-11-01").status_code == 201


def test_stale_etag_fault_puts_a_concurrent_edit_before_the_write(client: Ifs) -> None:
    tag = new_voucher(client).headers["ETag"]
    client.http.put("/_sandbox/faults", json={"rate_stale_etag": 1.0, "seed": 7})
    response = client.send("PATCH", voucher("1"), {"Text": "mine"}, **{"If-Match": tag})
    assert response.status_code == 412
    fresh = client.get(voucher("1")).headers["ETag"]
    assert fresh != tag
    assert decode_etag(fresh) > decode_etag(tag)


def test_rate_limit_is_429_with_retry_after_and_an_odata_body() -> None:
    app = ifs.create_app(make_config(ifs_rate_per_min=60), FaultProfile())
    with running(app) as url, httpx.Client(base_url=url) as http:
        client = Ifs(http)
        Ifs(http)  # the token endpoint is not limited
        statuses = [client.get(f"{PO}/PurchaseOrderSet?$top=1") for _ in range(3)]
        limited = statuses[-1]
        assert statuses[0].status_code == 200
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1
        assert limited.json()["error"]["code"] == "TOO_MANY_REQUESTS"
        assert http.get("/_sandbox/state").status_code == 200


def test_injected_500_has_an_ifs_body_and_spares_control_endpoints(client: Ifs) -> None:
    client.http.put("/_sandbox/faults", json={"rate_500": 1.0})
    response = client.get(f"{PO}/PurchaseOrderSet?$top=1")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "MI_MODIFIED_ERROR"
    assert client.http.get("/_sandbox/state").status_code == 200


# -- control endpoints -------------------------------------------------------------------------


def test_state_counts_each_set(client: Ifs) -> None:
    counts = client.http.get("/_sandbox/state").json()["counts"]
    assert counts["ExternalVoucherSet"] == 0
    assert counts["PurchaseOrderSet"] == len(client.raw("PurchaseOrderSet")) > 0
    new_voucher(client)
    assert client.http.get("/_sandbox/state").json()["counts"]["ExternalVoucherSet"] == 1


def test_requests_are_counted_by_stable_route_labels(client: Ifs) -> None:
    client.get(f"{PO}/PurchaseOrderSet(OrderNo='PO-2026-00001')")
    client.get(f"{PO}/PurchaseOrderSet(OrderNo='PO-2026-00002')")
    new_voucher(client)
    client.send("PATCH", voucher("1"), {"Text": "x"}, **{"If-Match": "stale"})
    counts = {
        (c["route"], c["status"]): c["count"] for c in client.http.get("/_sandbox/requests").json()
    }
    assert counts[("GET PurchaseOrderHandling.svc/PurchaseOrderSet(key)", 200)] == 2
    assert counts[("POST ExternalVoucherHandling.svc/ExternalVoucherSet", 201)] == 1
    assert counts[("PATCH ExternalVoucherHandling.svc/ExternalVoucherSet(key)", 412)] == 1
    assert counts[("POST /auth/realms/{realm}/protocol/openid-connect/token", 200)] >= 1
    assert client.http.delete("/_sandbox/requests").status_code == 204
    assert client.http.get("/_sandbox/requests").json() == []


def test_faults_round_trip_and_unknown_fields_are_refused(client: Ifs) -> None:
    put = client.http.put("/_sandbox/faults", json={"latency_ms": 1, "closed_periods": ["2026-01"]})
    assert put.json()["closed_periods"] == ["2026-01"]
    assert client.http.get("/_sandbox/faults").json()["latency_ms"] == 1
    assert client.http.put("/_sandbox/faults", json={"nope": 1}).status_code == 400
    assert client.http.put("/_sandbox/behaviour", json={"nope": 1}).status_code == 400
    assert client.http.put("/_sandbox/behaviour", json={"missing_if_match": "x"}).status_code == 400


def test_edit_changes_a_row_like_an_ifs_user(client: Ifs) -> None:
    path = f"{PO}/PurchaseOrderSet(OrderNo='PO-2026-00042')"
    before = client.get(path).json()
    edit = client.http.post(
        "/_sandbox/edit",
        json={
            "set": "PurchaseOrderSet",
            "key": {"OrderNo": "PO-2026-00042"},
            "changes": {"Objstate": "Cancelled", "CancelReason": "Duplicate order"},
        },
    )
    assert edit.status_code == 200
    after = client.get(path).json()
    assert (after["Objstate"], after["CancelReason"]) == ("Cancelled", "Duplicate order")
    assert after["@odata.etag"] != before["@odata.etag"]
    assert after["Objversion"] > before["Objversion"]
    assert after["ChangeDate"] > before["ChangeDate"]
    assert after["ChangeDate"].startswith(time.strftime("%Y-%m-%d", time.gmtime()))


def test_edit_of_an_unknown_row_or_set_is_refused(client: Ifs) -> None:
    unknown_row = {"set": "PurchaseOrderSet", "key": {"OrderNo": "nope"}, "changes": {}}
    assert client.http.post("/_sandbox/edit", json=unknown_row).status_code == 404
    unknown_set = {"set": "NoSet", "key": {}, "changes": {}}
    assert client.http.post("/_sandbox/edit", json=unknown_set).status_code == 400


def test_reset_restores_the_seed_and_clears_tokens(client: Ifs) -> None:
    seeded = "/_sandbox/entities/PurchaseOrderSet?OrderNo=PO-2026-00042"
    original = client.http.get(seeded).json()
    new_voucher(client)
    client.http.post(
        "/_sandbox/edit",
        json={"set": "PurchaseOrderSet", "key": {"OrderNo": "PO-2026-00042"}, "changes": {}},
    )
    assert client.http.get(seeded).json() != original
    assert client.http.post("/_sandbox/reset").status_code == 200
    assert client.http.get("/_sandbox/state").json()["counts"]["ExternalVoucherSet"] == 0
    assert client.get(f"{PO}/PurchaseOrderSet?$top=1").status_code == 401
    assert client.http.get(seeded).json() == original
    assert len(original["value"]) == 1
