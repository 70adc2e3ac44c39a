"""The IFS simulator's `$batch` over real HTTP: multipart/mixed, atomic change sets,
Content-ID and `$n` references, and IFS's error body for a malformed batch."""

from __future__ import annotations

from typing import Any

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
    simulator,
)

HEADER = {
    "Company": "ACME01",
    "VoucherDate": "2026-11-05",
    "VoucherType": "GL",
    "Text": "ServiceTitan invoice 77000123",
    "Reference": "ST-INV-77000123",
}


def row(account: str, debit: Any = None, credit: Any = None, **fields: Any) -> dict[str, Any]:
    return {
        "Account": account,
        "CodeB": "CC100",
        "CurrencyDebetAmount": debit,
        "CurrencyCreditAmount": credit,
        **fields,
    }


def document(rows: list[dict[str, Any]], header: dict[str, Any] | None = None) -> str:
    """A voucher and its rows as one change set: rows posted through `$1`, then Check."""
    parts = [request_part("POST", "ExternalVoucherSet", header or HEADER, content_id="1")]
    parts += [
        request_part("POST", "$1/ExternalVoucherRowArray", r, content_id=str(n))
        for n, r in enumerate(rows, start=2)
    ]
    parts.append(request_part("POST", f"$1/{CHECK}", {}, content_id="99", If_Match="$1"))
    return changeset(*parts)


def vouchers(client: Ifs) -> list[dict[str, Any]]:
    return client.raw("ExternalVoucherSet")


def history_size(client: Ifs) -> int:
    return client.http.get("/_sandbox/state").json()["counts"]["HistoryLogOverviewSet"]


def test_a_header_and_its_rows_are_written_as_one_change_set(client: Ifs) -> None:
    rows = [row("1200", debit="107.50"), row("4020", credit="100.00"), row("2200", credit="7.50")]
    response = send_batch(client, EV, batch_body(document(rows)))

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("multipart/mixed; boundary=")
    (answered,) = answers(response)
    assert isinstance(answered, list)
    assert [a.status for a in answered] == [201, 201, 201, 201, 204]
    assert [a.content_id for a in answered] == ["1", "2", "3", "4", "99"]
    load_id = answered[0].json()["LoadId"]
    assert [a.json()["LoadId"] for a in answered[1:4]] == [load_id] * 3
    assert [a.json()["RowNo"] for a in answered[1:4]] == [1, 2, 3]
    stored = client.get(f"{EV}/ExternalVoucherSet(Company='ACME01',LoadId='{load_id}')").json()
    assert stored["Objstate"] == "Checked"
    assert stored["@odata.etag"] == answered[4].headers["etag"]
    lines = client.rows(
        f"{EV}/ExternalVoucherSet(Company='ACME01',LoadId='{load_id}')/ExternalVoucherRowArray"
    )
    assert [line["Account"] for line in lines] == ["1200", "4020", "2200"]


def test_a_failing_row_rolls_the_whole_change_set_back(client: Ifs) -> None:
    before_history = history_size(client)
    rows = [row("1200", debit="107.50"), row("9999", credit="107.50")]
    response = send_batch(client, EV, batch_body(document(rows)))

    assert response.status_code == 200
    (failed,) = answers(response)
    assert isinstance(failed, PartAnswer)
    assert (failed.status, failed.content_id) == (400, "3")
    error = failed.json()["error"]
    assert error["code"] == "DATABASE_ERROR" and "Account 9999 does not exist" in error["message"]
    assert vouchers(client) == [] and client.raw("ExternalVoucherRowSet") == []
    assert history_size(client) == before_history


def test_an_unbalanced_document_fails_its_check_and_nothing_is_kept(client: Ifs) -> None:
    rows = [row("1200", debit="107.50"), row("4020", credit="100.00")]
    (failed,) = answers(send_batch(client, EV, batch_body(document(rows))))

    assert isinstance(failed, PartAnswer) and failed.content_id == "99"
    assert "is not balanced: debit 107.50, credit 100.00" in failed.json()["error"]["message"]
    assert vouchers(client) == []


def test_the_next_change_set_numbers_on_from_where_the_rolled_back_one_started(
    client: Ifs,
) -> None:
    bad = document([row("9999", debit="1.00")])
    good = document([row("1200", debit="1.00"), row("4020", credit="1.00")])
    body = batch_body(bad, good)
    failed, written = answers(send_batch(client, EV, body, Prefer="odata.continue-on-error"))

    assert isinstance(failed, PartAnswer) and failed.status == 400
    assert isinstance(written, list) and written[0].json()["LoadId"] == "1"
    assert [v["LoadId"] for v in vouchers(client)] == ["1"]


def test_the_batch_stops_at_a_failure_unless_asked_to_continue(client: Ifs) -> None:
    bad = document([row("9999", debit="1.00")])
    good = document([row("1200", debit="1.00"), row("4020", credit="1.00")])

    stopped = send_batch(client, EV, batch_body(bad, good))
    assert len(answers(stopped)) == 1 and vouchers(client) == []
    assert "preference-applied" not in stopped.headers

    going_on = send_batch(client, EV, batch_body(bad, good), Prefer="odata.continue-on-error")
    assert len(answers(going_on)) == 2 and len(vouchers(client)) == 1
    assert going_on.headers["preference-applied"] == "odata.continue-on-error"


def test_requests_outside_change_sets_run_in_order_reads_included(client: Ifs) -> None:
    create = request_part("POST", "ExternalVoucherSet", HEADER)
    read = request_part("GET", "ExternalVoucherSet?$filter=Reference%20eq%20'ST-INV-77000123'")
    po = request_part("GET", f"{PO}/PurchaseOrderSet(OrderNo='PO-O''NEIL-7')")
    accented = request_part("GET", f"{PO}/PurchaseOrderSet(OrderNo='PO-Ü-12')")
    body = batch_body(create, read, po, accented)
    created, found, order, unicode = answers(send_batch(client, EV, body))

    assert isinstance(created, PartAnswer) and created.status == 201
    assert isinstance(found, PartAnswer)
    assert [v["LoadId"] for v in found.json()["value"]] == [created.json()["LoadId"]]
    assert isinstance(order, PartAnswer) and order.json()["OrderNo"] == "PO-O'NEIL-7"
    assert order.headers["etag"] == order.json()["@odata.etag"]
    assert isinstance(unicode, PartAnswer) and unicode.json()["OrderNo"] == "PO-Ü-12"


def test_if_match_dollar_n_is_the_etag_of_the_entity_that_request_wrote(client: Ifs) -> None:
    created = request_part("POST", "ExternalVoucherSet", HEADER, content_id="h")
    patched = request_part("PATCH", "$h", {"Text": "renamed"}, content_id="p", If_Match="$h")
    again = request_part("PATCH", "$h", {"Text": "stale"}, If_Match="$h")
    body = batch_body(changeset(created, patched, again))
    (failed,) = answers(send_batch(client, EV, body))

    assert isinstance(failed, PartAnswer) and failed.status == 412
    assert vouchers(client) == []
    fixed = request_part("PATCH", "$h", {"Text": "renamed twice"}, If_Match="$p")
    (written,) = answers(send_batch(client, EV, batch_body(changeset(created, patched, fixed))))
    assert isinstance(written, list) and [a.status for a in written] == [201, 204, 204]
    assert vouchers(client)[0]["Text"] == "renamed twice"


def test_unknown_or_later_references_fail_the_change_set(client: Ifs) -> None:
    early = request_part("POST", "$2/ExternalVoucherRowArray", row("1200", debit="1"))
    late = request_part("POST", "ExternalVoucherSet", HEADER, content_id="2")
    (failed,) = answers(send_batch(client, EV, batch_body(changeset(early, late))))

    assert isinstance(failed, PartAnswer) and failed.status == 400
    assert "$2 names no earlier request" in failed.json()["error"]["message"]
    assert vouchers(client) == []


def test_a_change_set_writes_the_history_log_once_per_change(client: Ifs) -> None:
    rows = [row("1200", debit="5.00"), row("4020", credit="5.00")]
    send_batch(client, EV, batch_body(document(rows)))
    logged = client.rows(
        f"{HISTORY}?$filter=LuName eq 'ExtLoadInfo' or LuName eq 'ExtTransactions'"
    )

    kinds = [(r["LuName"], r["HistoryType"]) for r in logged]
    assert kinds == [
        ("ExtLoadInfo", "Insert"),
        ("ExtTransactions", "Insert"),
        ("ExtTransactions", "Insert"),
        ("ExtLoadInfo", "Update"),
    ]
    assert {r["Username"] for r in logged} == {"CONNECTOR_SVC"}


def _malformed(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "ODP_DESERIALIZATION_ERROR"
    return error["details"][0]["message"]


@pytest.mark.parametrize(
    ("body", "content_type", "words"),
    [
        (
            batch_body(request_part("GET", "ExternalVoucherSet")),
            "application/json",
            "not multipart",
        ),
        (batch_body(request_part("GET", "ExternalVoucherSet")), "multipart/mixed", "no boundary"),
        (
            b"--batch_36522ad7\r\nContent-Type: application/http\r\n\r\nGET x HTTP/1.1\r\n",
            None,
            "no closing",
        ),
        (b"no parts at all", None, "never starts a part"),
        (batch_body(request_part("GET", "ExternalVoucherSet?$top=1 ")), None, "request line"),
        (batch_body("Content-Type: text/plain\r\n\r\nhello"), None, "not application/http"),
        (batch_body(request_part("FETCH", "ExternalVoucherSet")), None, "not an HTTP request line"),
        (
            batch_body(changeset(request_part("GET", "ExternalVoucherSet"))),
            None,
            "GET is not allowed",
        ),
        (
            batch_body(changeset(changeset(request_part("POST", "ExternalVoucherSet", {})))),
            None,
            "do not nest",
        ),
        (
            batch_body(
                changeset(
                    request_part("POST", "ExternalVoucherSet", HEADER, content_id="1"),
                    request_part("POST", "ExternalVoucherSet", HEADER, content_id="1"),
                )
            ),
            None,
            "Content-ID repeats",
        ),
    ],
)
def test_malformed_batches_are_refused_whole_with_ifs_error_body(
    client: Ifs, body: bytes, content_type: str | None, words: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = send_batch(client, EV, body, **headers)

    assert words in _malformed(response)
    assert vouchers(client) == []


def test_a_batch_over_the_request_limit_is_refused(http: httpx.Client) -> None:
    client = fresh(http, batch_max_requests=2)
    parts = [request_part("POST", "ExternalVoucherSet", HEADER) for _ in range(3)]

    assert "at most 2" in _malformed(send_batch(client, EV, batch_body(*parts)))
    assert vouchers(client) == []


def test_batch_needs_post_a_token_and_csrf_on_main(client: Ifs) -> None:
    body = batch_body(request_part("POST", "ExternalVoucherSet", HEADER))
    main = EV.replace("/int/", "/main/")

    assert client.get(f"{EV}/$batch").status_code == 405
    assert send_batch(client, main, body).json()["error"]["code"] == "CSRF_ERROR"
    assert send_batch(client, main, body, **{"X-XSRF-TOKEN": "t"}).status_code == 200
    anonymous = client.http.post(
        f"{EV}/$batch",
        content=body,
        headers={"Content-Type": "multipart/mixed; boundary=batch_36522ad7"},
    )
    assert anonymous.status_code == 401 and len(vouchers(client)) == 1


def test_a_batch_inside_a_batch_is_a_part_error(client: Ifs) -> None:
    (nested,) = answers(send_batch(client, EV, batch_body(request_part("POST", "$batch", "x"))))

    assert isinstance(nested, PartAnswer) and nested.status == 400


def test_a_batch_counts_as_one_request(client: Ifs) -> None:
    client.http.delete("/_sandbox/requests")
    send_batch(client, EV, batch_body(document([row("1200", debit="1"), row("4020", credit="1")])))
    counted = client.http.get("/_sandbox/requests").json()

    assert [(c["route"], c["count"]) for c in counted] == [
        ("POST ExternalVoucherHandling.svc/$batch", 1)
    ]


def test_a_batch_counts_its_requests_against_the_operations_limit() -> None:
    """At 60 operations a minute, a `$batch` of 5 requests is let through on a full
    bucket and owed: the next one (and a lone GET) is a 429 with Retry-After, before
    anything of it runs, counted as one request."""
    with simulator(ifs_operations_per_min=60) as http:
        client = fresh(http)
        rows = [row("1200", debit="1"), row("4020", credit="1")]
        first = send_batch(client, EV, batch_body(document(rows)))
        assert first.status_code == 200
        assert [a.status for a in answers(first)[0]] == [201, 201, 201, 204]
        http.delete("/_sandbox/requests")
        again = send_batch(client, EV, batch_body(document(rows, {**HEADER, "Reference": "X"})))
        assert again.status_code == 429
        assert again.json()["error"]["code"] == "TOO_MANY_REQUESTS"
        assert int(again.headers["retry-after"]) >= 2
        assert client.get(f"{EV}/ExternalVoucherSet").status_code == 429
        assert [v["Reference"] for v in vouchers(client)] == ["ST-INV-77000123"]
        counted = {c["route"]: c["count"] for c in http.get("/_sandbox/requests").json()}
        assert counted["POST ExternalVoucherHandling.svc/$batch"] == 1
