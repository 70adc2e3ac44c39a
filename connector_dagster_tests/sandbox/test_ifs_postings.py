"""GL postings written into the IFS simulator (flows F3/F4): vouchers and proposals with
their rows on `/int/`, batched look-ups by reference, If-Match updates, closed periods
per company and the external voucher's balance check."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connector_dagster.lib import odata
from connector_dagster.lib.ifs import ETAG
from connector_dagster_tests.sandbox.ifs_support import (
    CHECK,
    EV,
    PP,
    fresh,
    project_client,
    simulator,
)
from connector_dagster_tests.sandbox.test_ifs import Ifs

VOUCHERS = "ExternalVoucherHandling.svc/ExternalVoucherSet"
PROPOSALS = "PostingProposalHandling.svc/PostingProposalSet"
CREATE = "IfsApp.ExternalVoucherHandling.ExternalVoucher_CreateVoucher"
AWKWARD = [
    "ST-INV O'Brien/7",
    "ST/ÜBER 'quoted'",
    "ST-€-42 #1 & 2",
    "ST%20LITERAL+plus",
    "ST-日本-3",
]


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with simulator() as http:
        yield http


@pytest.fixture
def client(http: httpx.Client) -> Ifs:
    return fresh(http)


def voucher(client: Ifs, **fields: Any) -> dict[str, Any]:
    body = {"Company": "ACME01", "VoucherDate": "2026-10-05", "VoucherType": "GL", **fields}
    response = client.send("POST", f"{EV}/ExternalVoucherSet", body)
    assert response.status_code == 201, response.text
    return response.json()


def path(load_id: str, company: str = "ACME01") -> str:
    return f"{EV}/ExternalVoucherSet(Company='{company}',LoadId='{load_id}')"


def add_row(client: Ifs, load_id: str, account: str, **amounts: Any) -> httpx.Response:
    body = {"Account": account, "CodeB": "CC200", **amounts}
    return client.send("POST", f"{path(load_id)}/ExternalVoucherRowArray", body)


def balanced(client: Ifs, **fields: Any) -> dict[str, Any]:
    created = voucher(client, **fields)
    add_row(client, created["LoadId"], "1200", CurrencyDebetAmount=50)
    add_row(client, created["LoadId"], "4010", CurrencyCreditAmount=50)
    return created


def action(client: Ifs, load_id: str, name: str, etag: str | None = None) -> httpx.Response:
    tag = etag or client.get(path(load_id)).headers["ETag"]
    return client.send("POST", f"{path(load_id)}/{name}", {}, **{"If-Match": tag})


# -- creates, look-ups and updates -------------------------------------------------------------


def test_rows_created_through_the_navigation_take_the_voucher_keys(client: Ifs) -> None:
    load_id = voucher(client)["LoadId"]
    response = add_row(client, load_id, "1200", CurrencyDebetAmount="12.34", CodeC="TRUCK-7")

    assert response.status_code == 201, response.text
    row = response.json()
    assert (row["Company"], row["LoadId"], row["RowNo"]) == ("ACME01", load_id, 1)
    assert (row["DebetAmount"], row["CreditAmount"], row["CodeC"]) == (12.34, None, "TRUCK-7")
    assert response.headers["Location"].endswith(
        f"ExternalVoucherRowSet(Company='ACME01',LoadId='{load_id}',RowNo=1)"
    )
    listed = client.rows(f"{path(load_id)}/ExternalVoucherRowArray?$select=RowNo,Account")
    assert [(r["RowNo"], r["Account"]) for r in listed] == [(1, "1200")]


def test_navigation_of_an_unknown_voucher_or_property_is_404(client: Ifs) -> None:
    assert client.get(f"{path('404')}/ExternalVoucherRowArray").status_code == 404
    assert add_row(client, "404", "1200").status_code == 404
    load_id = voucher(client)["LoadId"]
    assert client.get(f"{path(load_id)}/NoSuchArray").status_code == 404


@pytest.mark.parametrize(("set_path", "service"), [(VOUCHERS, EV), (PROPOSALS, PP)])
def test_references_with_quotes_slashes_and_unicode_are_found_in_batches(
    client: Ifs, set_path: str, service: str
) -> None:
    entity = set_path.rsplit("/", 1)[1]
    for reference in AWKWARD:
        body = {"Company": "ACME01", "VoucherDate": "2026-10-05", "VoucherType": "I"}
        created = client.send("POST", f"{service}/{entity}", {**body, "Reference": reference})
        assert created.status_code == 201, created.text
    client.http.delete("/_sandbox/requests")
    wanted = [*AWKWARD, "ST-NOT-THERE", "st-inv o'brien/7"]

    with project_client(client.http, max_url_length=700) as ifs:
        found = ifs.exists_by_keys(
            set_path, "Reference", wanted, filter=odata.eq("Company", "ACME01")
        )
        rows = list(
            ifs.query(set_path, filter=odata.any_of("Reference", AWKWARD), orderby=["Reference"])
        )

    assert found == set(AWKWARD)
    assert sorted(r["Reference"] for r in rows) == sorted(AWKWARD)
    gets = [c for c in client.http.get("/_sandbox/requests").json() if c["method"] == "GET"]
    assert 1 < sum(c["count"] for c in gets) < len(wanted) + 1


def test_a_voucher_is_updated_with_if_match_by_the_project_client(client: Ifs) -> None:
    load_id = voucher(client, Reference="ST-INV-1")["LoadId"]
    keys = {"Company": "ACME01", "LoadId": load_id}
    client.http.post("/_sandbox/edit", json={"set": "ExternalVoucherSet", "key": keys})

    with project_client(client.http) as ifs:
        written = ifs.update(VOUCHERS, keys, lambda row: {"Text": f"{row['Reference']} corrected"})

    stored = client.get(path(load_id))
    assert stored.json()["Text"] == "ST-INV-1 corrected"
    assert written[ETAG] == stored.headers["ETag"]


def test_proposals_are_written_with_their_lines_and_every_code_part(client: Ifs) -> None:
    header = {"Company": "ACME01", "VoucherDate": "2026-10-06", "VoucherType": "I"}
    created = client.send("POST", f"{PP}/PostingProposalSet", header).json()
    keys = f"Company='ACME01',ProposalId={created['ProposalId']}"
    codes = {f"Code{c}": f"{c}-1" for c in "CDEFGHIJ"}
    line = {"Account": "5010", "CodeB": "CC300", "CurrencyDebetAmount": 10, **codes}
    response = client.send(
        "POST", f"{PP}/PostingProposalSet({keys})/PostingProposalLineArray", line
    )

    assert response.status_code == 201, response.text
    stored = client.rows(
        f"{PP}/PostingProposalLineSet?$filter=ProposalId eq {created['ProposalId']}"
    )
    assert [{k: r[k] for k in codes} for r in stored] == [codes]
    assert stored[0]["DebetAmount"] == 10 and stored[0]["CodeB"] == "CC300"


# -- closed periods ----------------------------------------------------------------------------


def close(client: Ifs, company: str, period: str, verb: str = "close") -> httpx.Response:
    return client.http.post(f"/_sandbox/periods/{company}/{period}/{verb}")


def test_a_closed_period_refuses_postings_of_that_company_only(client: Ifs) -> None:
    open_before = voucher(client)["LoadId"]
    listed = close(client, "ACME01", "2026-10")

    assert listed.json() == {"closed": [{"company": "ACME01", "period": "2026-10"}]}
    refused = [
        client.send(
            "POST",
            f"{EV}/ExternalVoucherSet",
            {"Company": "ACME01", "VoucherDate": "2026-10-31", "VoucherType": "GL"},
        ),
        add_row(client, open_before, "1200", CurrencyDebetAmount=1),
        client.send("PATCH", path(open_before), {"Text": "late"}, **{"If-Match": "*"}),
        client.send(
            "POST",
            f"{PP}/PostingProposalSet",
            {"Company": "ACME01", "VoucherDate": "2026-10-01", "VoucherType": "I"},
        ),
        action(client, open_before, CHECK),
    ]
    for response in refused:
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "DATABASE_ERROR"
        assert error["message"].startswith(
            "ORA-20015: AccountingPeriod.PERIODCLOSED: "
            "The period 2026-10 is closed for company ACME01"
        )
    assert voucher(client, Company="ACME02")["Company"] == "ACME02"
    assert voucher(client, VoucherDate="2026-11-01")["VoucherDate"] == "2026-11-01"


def test_a_reopened_period_takes_postings_again(client: Ifs) -> None:
    close(client, "ACME01", "2026-10")
    close(client, "ACME01", "2026-09")

    assert close(client, "ACME01", "2026-10", "reopen").json()["closed"] == [
        {"company": "ACME01", "period": "2026-09"}
    ]
    assert voucher(client)["VoucherDate"] == "2026-10-05"
    assert client.http.get("/_sandbox/periods").json()["closed"][0]["period"] == "2026-09"
    client.http.post("/_sandbox/reset")
    assert client.http.get("/_sandbox/periods").json() == {"closed": []}


@pytest.mark.parametrize("period", ["2026-13", "2026-1", "202610", "last-month"])
def test_a_malformed_period_is_400(client: Ifs, period: str) -> None:
    response = close(client, "ACME01", period)
    assert response.status_code == 400 and "YYYY-MM" in response.json()["error"]


# -- the external voucher's check --------------------------------------------------------------


def test_check_passes_a_balanced_voucher_and_create_voucher_follows(client: Ifs) -> None:
    load_id = balanced(client)["LoadId"]
    checked = action(client, load_id, CHECK)

    assert checked.status_code == 204
    assert client.get(path(load_id)).json()["Objstate"] == "Checked"
    assert checked.headers["ETag"] == client.get(path(load_id)).headers["ETag"]
    assert action(client, load_id, CREATE).status_code == 204
    assert client.get(path(load_id)).json()["Objstate"] == "Created"


@pytest.mark.parametrize(
    ("rows", "words"),
    [
        ([], "has no rows"),
        (
            [("1200", {"CurrencyDebetAmount": 50}), ("4010", {"CurrencyCreditAmount": "49.99"})],
            "debit 50, credit 49.99",
        ),
    ],
)
def test_check_refuses_a_voucher_without_rows_or_out_of_balance(
    client: Ifs, rows: list, words: str
) -> None:
    load_id = voucher(client)["LoadId"]
    for account, amounts in rows:
        add_row(client, load_id, account, **amounts)
    response = action(client, load_id, CHECK)

    assert response.status_code == 400
    assert words in response.json()["error"]["message"]
    assert client.get(path(load_id)).json()["Objstate"] == "Loaded"


def test_the_load_type_may_allow_unbalanced_vouchers(http: httpx.Client) -> None:
    client = fresh(http, allow_unbalanced_vouchers=True)
    load_id = voucher(client)["LoadId"]
    add_row(client, load_id, "1200", CurrencyDebetAmount=50)

    assert action(client, load_id, CHECK).status_code == 204


def test_create_voucher_needs_a_checked_voucher_and_then_locks_it(client: Ifs) -> None:
    load_id = balanced(client)["LoadId"]
    early = action(client, load_id, CREATE)
    assert early.status_code == 400 and "check it before" in early.json()["error"]["message"]
    action(client, load_id, CHECK)
    action(client, load_id, CREATE)

    for response in (
        add_row(client, load_id, "1200", CurrencyDebetAmount=1),
        client.send("PATCH", path(load_id), {"Text": "x"}, **{"If-Match": "*"}),
        client.send("DELETE", path(load_id), **{"If-Match": "*"}),
        action(client, load_id, CHECK),
    ):
        assert response.status_code == 400
        assert "ExtLoadInfo.NOTMODIFIABLE" in response.json()["error"]["message"]


def test_actions_need_post_a_current_etag_and_a_known_name(client: Ifs) -> None:
    load_id = balanced(client)["LoadId"]
    stale = client.get(path(load_id)).headers["ETag"]
    client.send("PATCH", path(load_id), {"Text": "moved on"}, **{"If-Match": stale})

    assert client.get(f"{path(load_id)}/{CHECK}").status_code == 405
    assert action(client, load_id, CHECK, etag=stale).status_code == 412
    unknown = "IfsApp.ExternalVoucherHandling.ExternalVoucher_Approve"
    assert action(client, load_id, unknown).status_code == 404
    other = "IfsApp.PostingProposalHandling.ExternalVoucher_Check"
    assert action(client, load_id, other).status_code == 404


def test_metadata_declares_the_navigation_and_the_actions(client: Ifs) -> None:
    text = client.get(f"{EV}/$metadata").text
    assert (
        '<NavigationProperty Name="ExternalVoucherRowArray" '
        'Type="Collection(IfsApp.ExternalVoucherHandling.ExternalVoucherRow)"/>'
    ) in text
    assert '<Action Name="ExternalVoucher_Check" IsBound="true">' in text
