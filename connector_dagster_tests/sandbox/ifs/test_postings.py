"""GL postings written into the IFS simulator (flows F3/F4): vouchers and proposals with
their rows on `/int/`, batched look-ups by reference, If-Match updates and the external
voucher's balance check (closed periods: `test_ifs_periods`)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connector_dagster.systems.ifs import odata
from connector_dagster.systems.ifs.client import ETAG
from connector_dagster_tests.sandbox.ifs.support import (
    CHECK,
    EV,
    INT,
    PP,
    Ifs,
    fresh,
    project_client,
)

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


def test_a_url_over_the_limit_is_414_and_the_client_splits_its_look_ups(
    http: httpx.Client,
) -> None:
    client = fresh(http, max_url_length=1000)
    references = [f"ST-INV-{n:06d} O'Brien/Ü" for n in range(60)]
    for reference in references:
        voucher(client, Reference=reference)
    one_filter = odata.query_string(filter=odata.any_of("Reference", references))

    too_long = client.get(f"{EV}/ExternalVoucherSet?{one_filter}")
    assert too_long.status_code == 414
    assert too_long.json()["error"]["code"] == "URI_TOO_LONG"
    with project_client(client.http, max_url_length=1000) as ifs:
        assert ifs.exists_by_keys(VOUCHERS, "Reference", references) == set(references)


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


def test_a_blocked_account_takes_no_postings_until_unblocked(
    client: Ifs, http: httpx.Client
) -> None:
    key = {"set": "AccountSet", "key": {"Company": "ACME01", "Account": "4010"}}
    load_id = voucher(client)["LoadId"]
    http.post("/_sandbox/edit", json={**key, "changes": {"Objstate": "Blocked"}}).raise_for_status()

    refused = add_row(client, load_id, "4010", CurrencyCreditAmount=50)
    listed = client.rows(f"{INT}/AccountsHandling.svc/AccountSet?$filter=Account eq '4010'")

    assert refused.status_code == 400 and "Account.BLOCKED" in refused.text, refused.text
    assert listed[0]["Objstate"] == "Blocked"
    http.post("/_sandbox/edit", json={**key, "changes": {"Objstate": "Active"}}).raise_for_status()
    assert add_row(client, load_id, "4010", CurrencyCreditAmount=50).status_code == 201
