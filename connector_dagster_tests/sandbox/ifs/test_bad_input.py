"""Bad input to the IFS simulator's newer routes is a 4xx with IFS's error body, never a 500."""

from __future__ import annotations

import httpx
import pytest

from connector_dagster_tests.sandbox.ifs.support import (
    CHECK,
    EV,
    HISTORY,
    PO,
    Ifs,
    PartAnswer,
    answers,
    batch_body,
    changeset,
    fresh,
    request_part,
    send_batch,
)

VOUCHER = f"{EV}/ExternalVoucherSet(Company='ACME01',LoadId='1')"


@pytest.fixture
def client(http: httpx.Client) -> Ifs:
    client = fresh(http)
    body = {"Company": "ACME01", "VoucherDate": "2026-10-01", "VoucherType": "GL"}
    client.send("POST", f"{EV}/ExternalVoucherSet", body).raise_for_status()
    return client


REQUESTS = [
    (
        "GET",
        f"{EV}/ExternalVoucherSet(Company='ACME01',LoadId=1)/ExternalVoucherRowArray",
        None,
        400,
    ),
    ("GET", f"{VOUCHER}/ExternalVoucherRowArray/Nested", None, 404),
    ("GET", f"{VOUCHER}/ExternalVoucherRowArray?$filter=Nope eq 1", None, 400),
    ("GET", f"{VOUCHER}/ExternalVoucherRowArray?$top=ten", None, 400),
    ("PATCH", f"{VOUCHER}/ExternalVoucherRowArray", b"{}", 405),
    ("POST", f"{VOUCHER}/ExternalVoucherRowArray", b"[1]", 400),
    ("POST", f"{VOUCHER}/ExternalVoucherRowArray", b'{"Account": 1200}', 400),
    ("POST", f"{VOUCHER}/ExternalVoucherRowArray", b'{"CurrencyDebetAmount": "1e999999x"}', 400),
    ("POST", f"{VOUCHER}/{CHECK}", b"not json", 400),
    ("DELETE", f"{VOUCHER}/{CHECK}", None, 405),
    ("GET", f"{HISTORY}?$filter=TimeStamp gt 2026-13-01T00:00:00Z", None, 400),
    ("GET", f"{HISTORY}?$filter=TimeStamp gt 'yesterday'", None, 400),
    ("GET", f"{HISTORY}(LogId='1')", None, 400),
    (
        "GET",
        f"{PO}/PurchaseOrderSet(OrderNo='PO-2026-00042')/PurchaseOrderLineArray/$count",
        None,
        404,
    ),
    ("POST", f"{PO}/PurchaseOrderSet", b'{"OrderNo": "x", "BuyQtyDue": 1}', 400),
    ("POST", f"{EV}/$batch", b"--b\r\n", 400),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), REQUESTS)
def test_bad_requests_get_an_ifs_error_body(
    client: Ifs, method: str, path: str, body: bytes | None, status: int
) -> None:
    headers = {"If-Match": "*", "Content-Type": "application/json"}
    if path.endswith("$batch"):
        headers["Content-Type"] = "multipart/mixed; boundary=b"
    response = client.send(method, path, body, **headers)

    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] and error["message"]


@pytest.mark.parametrize(
    "part",
    [
        request_part("POST", "ExternalVoucherSet", "{not json"),
        request_part(
            "POST", "ExternalVoucherSet", {"Company": "ACME01"}, Content_Type="text/plain"
        ),
        request_part("PATCH", "$", {"Text": "x"}),
        request_part("PATCH", "ExternalVoucherSet(Company='ACME01',LoadId='1')", {}, If_Match="$9"),
        request_part("GET", "NoSuchSet"),
        request_part(
            "GET", "https://elsewhere.example/int/ifsapplications/projection/v1/Nope.svc/X"
        ),
        request_part("GET", "%ZZ"),
    ],
)
def test_bad_parts_of_a_batch_are_answered_each_with_an_ifs_error(client: Ifs, part: str) -> None:
    response = send_batch(client, EV, batch_body(part))

    assert response.status_code == 200
    (answer,) = answers(response)
    assert isinstance(answer, PartAnswer) and 400 <= answer.status < 500
    assert answer.json()["error"]["code"]


def test_a_part_header_that_is_not_latin_1_fails_its_change_set(client: Ifs) -> None:
    part = request_part("POST", "ExternalVoucherSet", {}, X_Note="€")
    (answer,) = answers(send_batch(client, EV, batch_body(changeset(part))))

    assert isinstance(answer, PartAnswer) and answer.status == 400


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/_sandbox/create", b"{"),
        ("/_sandbox/create", b'{"set": "PurchaseOrderSet", "values": {"NoField": 1}}'),
        ("/_sandbox/create", b'{"set": "PurchaseOrderSet", "values": {"OrderNo": 5}}'),
        ("/_sandbox/delete", b'{"set": "PurchaseOrderSet", "key": [1]}'),
        (
            "/_sandbox/edit",
            b'{"set": "PurchaseOrderSet", "key": {"OrderNo": "PO-2026-00042"}, "changes": [1]}',
        ),
        ("/_sandbox/edit", b'{"set": ["x"], "key": {}}'),
    ],
)
def test_bad_control_requests_are_400(client: Ifs, path: str, body: bytes) -> None:
    response = client.http.post(path, content=body)
    assert response.status_code == 400, response.text
