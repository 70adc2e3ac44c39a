"""The IFS client's `$batch` change sets, its reading of IFS's refusals, and the posting
set writer (look-ups by reference, creates, reconciling updates, deletes), over real
HTTP against the IFS simulator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from connector_dagster.lib.errors import ApiError, ConflictError, ErrorKind, RejectedError
from connector_dagster.systems.ifs import batch as ifs_batch
from connector_dagster.systems.ifs.batch import BatchRequest
from connector_dagster.systems.ifs.client import IfsClient, refusal
from connector_dagster.systems.ifs.postings import PostingSets, PostingWriter, amounts, changes
from connector_dagster_tests.sandbox.ifs.support import Ifs, fresh, project_client, simulator

SETS = PostingSets(
    headers_set="ExternalVoucherHandling.svc/ExternalVoucherSet",
    rows_set="ExternalVoucherHandling.svc/ExternalVoucherRowSet",
    rows_nav="ExternalVoucherRowArray",
    header_keys=("Company", "LoadId"),
    check_action="IfsApp.ExternalVoucherHandling.ExternalVoucher_Check",
)
HEADER = {"Company": "ACME01", "VoucherDate": "2026-10-05", "VoucherType": "GL",
          "Text": "ServiceTitan invoice 77000123", "Reference": "ST-INV-77000123"}  # fmt: skip
AWKWARD = ["ST-INV O'Brien/7", "ST/ÜBER 'quoted'", "ST-€-42 #1 & 2", "ST%20LITERAL+plus",
           "ST-日本-3", 'ST "double" (x)']  # fmt: skip


def row(account: str, debit: str | None = None, credit: str | None = None) -> dict[str, Any]:
    return {
        "Account": account,
        "CodeB": "CC100",
        "CurrencyDebetAmount": Decimal(debit) if debit else None,
        "CurrencyCreditAmount": Decimal(credit) if credit else None,
        "Text": f"row {account}",
    }


ROWS = [row("1200", debit="107.50"), row("4020", credit="100.00"), row("2200", credit="7.50")]


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with simulator() as http:
        yield http


@pytest.fixture
def client(http: httpx.Client) -> Ifs:
    return fresh(http)


@pytest.fixture
def ifs(client: Ifs) -> Iterator[IfsClient]:
    with project_client(client.http) as ifs:
        yield ifs


def stored(ifs: IfsClient, target_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    writer = PostingWriter(ifs, SETS)
    header = ifs.get(SETS.headers_set, SETS.keys(target_id))
    return dict(header), [dict(r) for r in writer.rows(target_id)]


def requests_seen(client: Ifs) -> dict[str, int]:
    """Requests by route (tokens, and 401s answered with a new token, left out)."""
    seen: dict[str, int] = {}
    for r in client.http.get("/_sandbox/requests").json():
        if "token" not in r["route"] and r["status"] != 401:
            seen[r["route"]] = seen.get(r["route"], 0) + r["count"]
    return seen


@pytest.mark.parametrize("batch", [False, True])
def test_a_posting_set_is_created_checked_and_found_by_its_reference(
    client: Ifs, ifs: IfsClient, batch: bool
) -> None:
    writer = PostingWriter(ifs, SETS, batch=batch)
    client.http.delete("/_sandbox/requests")
    target_id = writer.create(HEADER, ROWS)
    seen = requests_seen(client)
    header, rows = stored(ifs, target_id)
    assert header["Objstate"] == "Checked" and header["Reference"] == "ST-INV-77000123"
    assert [(r["Account"], r["DebetAmount"], r["CreditAmount"]) for r in rows] == [
        ("1200", Decimal("107.50"), None), ("4020", None, 100), ("2200", None, Decimal("7.50"))
    ]  # fmt: skip
    rows_posted = "POST ExternalVoucherHandling.svc/ExternalVoucherSet(key)/ExternalVoucherRowArray"
    if batch:
        assert seen == {"POST ExternalVoucherHandling.svc/$batch": 1}
    else:
        assert seen[rows_posted] == 3 and len(seen) == 3  # header, rows, Check
    found = writer.find(["ST-INV-77000123", "ST-INV-404"], select=["Text"])
    assert [SETS.key_text(r) for r in found["ST-INV-77000123"]] == [target_id]
    assert found.get("ST-INV-404", []) == []


@pytest.mark.parametrize("batch", [False, True])
def test_a_set_ifs_refuses_half_way_leaves_nothing_behind(
    client: Ifs, ifs: IfsClient, batch: bool
) -> None:
    writer = PostingWriter(ifs, SETS, batch=batch)
    with pytest.raises(RejectedError) as refused:
        writer.create(HEADER, [row("1200", debit="10.00"), row("9999", credit="10.00")])
    assert "Account 9999 does not exist" in str(refused.value)
    assert refused.value.body["error"]["code"] == "DATABASE_ERROR"
    assert client.raw("ExternalVoucherSet") == [] and client.raw("ExternalVoucherRowSet") == []
    with pytest.raises(RejectedError) as unbalanced:
        writer.create(HEADER, [row("1200", debit="10.00"), row("4020", credit="9.99")])
    assert "ExtLoadInfo.UNBALANCED" in str(unbalanced.value)
    assert client.raw("ExternalVoucherSet") == []


@pytest.mark.parametrize("batch", [False, True])
def test_a_closed_period_is_period_closed_naming_the_period(
    client: Ifs, ifs: IfsClient, batch: bool
) -> None:
    client.http.post("/_sandbox/periods/ACME01/2026-10/close").raise_for_status()
    with pytest.raises(ApiError) as closed:
        PostingWriter(ifs, SETS, batch=batch).create(HEADER, ROWS)
    assert closed.value.kind is ErrorKind.REJECTED
    found = refusal(closed.value)
    assert found is not None and (found.reason, found.period) == ("period_closed", "2026-10")
    assert client.raw("ExternalVoucherSet") == []


def test_a_created_voucher_is_target_locked_and_a_taken_key_a_duplicate(
    client: Ifs, ifs: IfsClient
) -> None:
    writer = PostingWriter(ifs, SETS)
    target_id = writer.create(HEADER, ROWS)
    keys = SETS.keys(target_id)
    ifs.action(
        SETS.headers_set, keys, "IfsApp.ExternalVoucherHandling.ExternalVoucher_CreateVoucher"
    )
    with pytest.raises(ApiError) as locked:
        writer.update(target_id, HEADER, [*ROWS[:2], row("2200", credit="7.49"),
                                          row("4020", credit="0.01")])  # fmt: skip
    found = refusal(locked.value)
    assert found is not None and found.reason == "target_locked"
    assert "NOTMODIFIABLE" in found.detail
    with pytest.raises(ConflictError) as taken:
        ifs.create(SETS.headers_set, {**HEADER, "LoadId": keys["LoadId"]})
    duplicate = refusal(taken.value)
    assert duplicate is not None and duplicate.reason == "duplicate"


def test_update_writes_only_what_changed_and_keeps_a_persons_edit(
    client: Ifs, ifs: IfsClient
) -> None:
    writer = PostingWriter(ifs, SETS)
    target_id = writer.create(HEADER, ROWS)
    keys = SETS.keys(target_id)
    person = {**keys, "RowNo": 1}
    client.http.post("/_sandbox/edit", json={"set": "ExternalVoucherRowSet", "key": person,
                                             "changes": {"Text": "checked by Zoë"}})  # fmt: skip
    wanted = [row("1200", debit="120.00"), row("4020", credit="112.50"), row("2200", credit="7.50")]
    client.http.delete("/_sandbox/requests")
    assert writer.update(target_id, HEADER, wanted, {"header": HEADER, "rows": ROWS})
    header, rows = stored(ifs, target_id)
    assert [(r["DebetAmount"], r["CreditAmount"]) for r in rows] == [
        (120, None), (None, Decimal("112.50")), (None, Decimal("7.50"))
    ]  # fmt: skip
    assert rows[0]["Text"] == "checked by Zoë"
    assert header["Objstate"] == "Checked"
    patches = {k: n for k, n in requests_seen(client).items() if k.startswith("PATCH")}
    assert patches == {"PATCH ExternalVoucherHandling.svc/ExternalVoucherRowSet(key)": 2}
    fewer = [row("1200", debit="112.50"), row("4020", credit="112.50")]
    writer.update(target_id, HEADER, fewer, {"header": HEADER, "rows": wanted})
    assert [r["Account"] for r in stored(ifs, target_id)[1]] == ["1200", "4020"]
    client.http.delete("/_sandbox/requests")
    assert not writer.update(target_id, HEADER, fewer, {"header": HEADER, "rows": fewer})
    assert [k for k in requests_seen(client) if not k.startswith("GET")] == []


def test_stale_etags_on_an_update_are_reread_and_reapplied(client: Ifs, ifs: IfsClient) -> None:
    writer = PostingWriter(ifs, SETS)
    target_id = writer.create(HEADER, ROWS)
    client.http.put("/_sandbox/faults", json={"rate_stale_etag": 0.5, "seed": 3})
    wanted = [row("1200", debit="55.00"), row("4010", credit="50.00"), row("2200", credit="5.00")]
    writer.update(target_id, {**HEADER, "Text": "corrected"}, wanted)
    client.http.put("/_sandbox/faults", json={})
    header, rows = stored(ifs, target_id)
    assert header["Text"] == "corrected" and header["Objstate"] == "Checked"
    assert [r["Account"] for r in rows] == ["1200", "4010", "2200"]
    stale = sum(r["count"] for r in client.http.get("/_sandbox/requests").json()
                if r["status"] == 412)  # fmt: skip
    assert stale > 0


def test_references_with_quotes_and_unicode_are_found_a_url_chunk_at_a_time(
    client: Ifs,
) -> None:
    with project_client(client.http, max_url_length=600) as ifs:
        writer = PostingWriter(ifs, SETS)
        made = {ref: writer.create({**HEADER, "Reference": ref}, ROWS) for ref in AWKWARD}
        client.http.delete("/_sandbox/requests")
        found = writer.find([*AWKWARD, "ST-NOT-THERE", "st-inv o'brien/7"], select=["Text"])
    assert {ref: [SETS.key_text(r) for r in rows] for ref, rows in found.items()} == {
        ref: [target_id] for ref, target_id in made.items()
    }
    lookups = requests_seen(client)["GET ExternalVoucherHandling.svc/ExternalVoucherSet"]
    assert 1 < lookups < len(AWKWARD)


def test_a_periods_sets_are_read_with_their_rows_a_url_chunk_at_a_time_and_summed(
    client: Ifs,
) -> None:
    """Sets dated in the period under the given prefixes only; rows for many sets per
    request; debits and credits exact, by company, account and code parts."""
    with project_client(client.http, max_url_length=500) as ifs:
        writer = PostingWriter(ifs, SETS)
        ours = [writer.create({**HEADER, "Reference": f"ST-INV-{n}"}, ROWS) for n in range(12)]
        writer.create({**HEADER, "Reference": "ST-INV-99", "VoucherDate": "2026-11-01"}, ROWS)
        writer.create({**HEADER, "Reference": "QB-1"}, ROWS)
        client.http.delete("/_sandbox/requests")
        heads = writer.dated(date(2026, 10, 1), date(2026, 11, 1), ["ST-INV-", "ST-APB-"])
        rows = writer.rows_of(heads, ["Account", "DebetAmount", "CreditAmount", "CodeB"])
    assert sorted(SETS.key_text(h) for h in heads) == sorted(ours)
    assert set(rows) == set(ours)
    assert all([r["Account"] for r in found] == ["1200", "4020", "2200"] for found in rows.values())
    seen = requests_seen(client)
    assert seen["GET ExternalVoucherHandling.svc/ExternalVoucherSet"] == 1
    assert 1 < seen["GET ExternalVoucherHandling.svc/ExternalVoucherRowSet"] < len(ours)
    assert amounts("ACME01", rows[ours[0]]) == {
        ("company ACME01", "account 1200", "CodeB CC100", "debit"): Decimal("107.50"),
        ("company ACME01", "account 4020", "CodeB CC100", "credit"): Decimal("100.00"),
        ("company ACME01", "account 2200", "CodeB CC100", "credit"): Decimal("7.50"),
    }


def test_a_failed_change_set_is_classified_like_the_request_alone(
    client: Ifs, ifs: IfsClient
) -> None:
    requests = [
        BatchRequest("POST", "ExternalVoucherSet", HEADER, "1"),
        BatchRequest("POST", "$1/ExternalVoucherRowArray", {"Account": "1200", "Nope": 1}, "2"),
    ]
    with pytest.raises(RejectedError) as refused:
        ifs.batch("ExternalVoucherHandling.svc", requests)
    assert refused.value.status == 400
    assert refused.value.body["error"]["code"] == "ODP_DESERIALIZATION_ERROR"
    assert "POST $1/ExternalVoucherRowArray, in a $batch change set" in str(refused.value)
    assert client.raw("ExternalVoucherSet") == []


def test_changes_compare_numbers_as_numbers_and_respect_what_was_written_last() -> None:
    current = {"Account": "1200", "CurrencyDebetAmount": 50, "Text": "edited", "CodeC": None}
    wanted = {"Account": "1200", "CurrencyDebetAmount": Decimal("50.00"), "Text": "mine",
              "CodeC": ""}  # fmt: skip
    assert changes(current, wanted, None) == {"Text": "mine"}
    assert changes(current, wanted, {"Text": "mine", "CurrencyDebetAmount": "50.00"}) == {}


def test_a_batch_answer_is_read_part_by_part() -> None:
    body = (
        b"--b1\r\nContent-Type: multipart/mixed; boundary=c1\r\n\r\n"
        b"--c1\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\n"
        b'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nETag: W/"x"\r\n\r\n'
        b'{"LoadId": "7", "Amount": 1.50, "Text": "\xc3\x9cber"}\r\n'
        b"--c1\r\nContent-Type: application/http\r\nContent-ID: 2\r\n\r\n"
        b"HTTP/1.1 204 No Content\r\n\r\n\r\n--c1--\r\n"
        b"--b1\r\nContent-Type: application/http\r\nContent-ID: 3\r\n\r\n"
        b'HTTP/1.1 400 Bad Request\r\n\r\n{"error": {"code": "DATABASE_ERROR"}}\r\n--b1--\r\n'
    )
    [first, second] = ifs_batch.decode("multipart/mixed; boundary=b1", body)
    assert [(a.status, a.content_id) for a in first] == [(201, "1"), (204, "2")]
    assert first[0].data == {"LoadId": "7", "Amount": Decimal("1.50"), "Text": "Über"}
    assert first[0].headers["etag"] == 'W/"x"' and first[1].data is None
    assert second[0].status == 400 and not second[0].ok
    with pytest.raises(ifs_batch.BatchFormatError):
        ifs_batch.decode("multipart/mixed; boundary=b1", body[:-9])
