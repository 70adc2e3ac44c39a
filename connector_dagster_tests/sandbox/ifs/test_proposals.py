"""Posting proposals read from the IFS simulator (flow F2): by voucher date and state,
with their lines' accounts, code parts, supplier and amounts; the seed's awkward
ones; proposals a user cancels, removes or enters unbalanced."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from connector_dagster.sandbox.ifs import seed_proposals
from connector_dagster.systems.ifs import odata
from connector_dagster_tests.sandbox.ifs.support import (
    HISTORY,
    PP,
    Ifs,
    iter_pages,
    project_client,
)

PROPOSALS = "PostingProposalHandling.svc/PostingProposalSet"
LINES = "PostingProposalHandling.svc/PostingProposalLineSet"
STATE = "IfsApp.PostingProposalHandling.PostingProposalState"
CODE_PARTS = [f"Code{c}" for c in "BCDEFGHIJ"]


def period(client: Ifs, month: str, state: str | None = None) -> list[dict[str, Any]]:
    """The proposals of a period (YYYY-MM), optionally of one state, by the project client."""
    start = f"{month}-01"
    end = (
        f"{month[:4]}-{int(month[5:]) + 1:02d}-01"
        if month[5:] != "12"
        else f"{int(month[:4]) + 1}-01-01"
    )
    flt = f"VoucherDate ge {start} and VoucherDate lt {end}"
    if state:
        flt += f" and Objstate eq {STATE}'{state}'"
    with project_client(client.http) as ifs:
        return list(ifs.query(PROPOSALS, filter=flt, keys=("Company", "ProposalId")))


def lines_of(client: Ifs, ids: list[int]) -> list[dict[str, Any]]:
    with project_client(client.http) as ifs:
        return list(
            ifs.query(
                LINES,
                filter=odata.any_of("ProposalId", ids),
                keys=("Company", "ProposalId", "RowNo"),
            )
        )


def key(proposal_id: int) -> str:
    return f"{PP}/PostingProposalSet(Company='ACME01',ProposalId={proposal_id})"


def test_proposals_of_a_period_and_state_come_with_their_lines(client: Ifs) -> None:
    authorized = period(client, "2026-10", "Authorized")
    everything = period(client, "2026-10")

    assert authorized and {p["Objstate"] for p in authorized} == {"Authorized"}
    assert all(p["VoucherDate"].startswith("2026-10") for p in everything)
    assert len({p["Objstate"] for p in everything}) > 1
    lines = lines_of(client, [p["ProposalId"] for p in authorized])
    assert {line["ProposalId"] for line in lines} == {p["ProposalId"] for p in authorized}
    for line in lines:
        assert set(CODE_PARTS) <= set(line) and line["CodeB"].startswith("CC")
        assert all(line[code] is None for code in CODE_PARTS[1:])
        assert (line["PartyType"], line["PartyTypeId"][:1]) == ("SUPPLIER", "V")
        assert (line["DebetAmount"], line["CreditAmount"]) == (
            line["CurrencyDebetAmount"],
            line["CurrencyCreditAmount"],
        )


def test_the_awkward_period_holds_authorised_others_and_ones_to_refuse(client: Ifs) -> None:
    february = {p["Reference"]: p for p in period(client, "2026-02")}

    states = {p["Objstate"] for p in february.values()}
    assert "Authorized" in states and states - {"Authorized"}
    no_lines = february[seed_proposals.NO_LINES_REFERENCE]
    decimals = february[seed_proposals.DECIMALS_REFERENCE]
    assert no_lines["Objstate"] == decimals["Objstate"] == "Authorized"
    assert client.rows(f"{key(no_lines['ProposalId'])}/PostingProposalLineArray") == []
    accept = "application/json;odata.metadata=minimal;IEEE754Compatible=true"
    response = client.get(f"{key(decimals['ProposalId'])}/PostingProposalLineArray", Accept=accept)
    amounts = [
        Decimal(x["CurrencyDebetAmount"] or "0") - Decimal(x["CurrencyCreditAmount"] or "0")
        for x in response.json()["value"]
    ]
    assert sum(amounts) == 0
    assert any(-a.as_tuple().exponent > 2 for a in amounts)


def test_a_proposal_a_user_cancels_is_seen_in_its_state_and_the_history_log(
    client: Ifs,
) -> None:
    proposal = period(client, "2026-10", "Authorized")[0]
    keys = {"Company": "ACME01", "ProposalId": proposal["ProposalId"]}
    edited = client.http.post(
        "/_sandbox/edit",
        json={"set": "PostingProposalSet", "key": keys, "changes": {"Objstate": "Cancelled"}},
    )

    assert edited.status_code == 200
    cancelled = period(client, "2026-10", "Cancelled")
    assert [p["ProposalId"] for p in cancelled] == [proposal["ProposalId"]]
    assert cancelled[0]["@odata.etag"] != proposal["@odata.etag"]
    log = client.rows(
        f"{HISTORY}?$filter=LuName eq 'PostingProposalHead'&$orderby=LogId desc&$top=1"
    )
    assert (log[0]["HistoryType"], log[0]["Keys"]) == (
        "Update",
        f"COMPANY=ACME01^PROPOSAL_ID={proposal['ProposalId']}^",
    )


def test_a_proposal_a_user_removes_is_gone_with_its_lines(client: Ifs) -> None:
    proposal = period(client, "2026-10", "Authorized")[0]
    keys = {"Company": "ACME01", "ProposalId": proposal["ProposalId"]}
    line_count = len(lines_of(client, [proposal["ProposalId"]]))

    assert (
        client.http.post(
            "/_sandbox/delete", json={"set": "PostingProposalSet", "key": keys}
        ).status_code
        == 204
    )
    assert client.get(key(proposal["ProposalId"])).status_code == 404
    assert lines_of(client, [proposal["ProposalId"]]) == []
    deletes = client.rows(f"{HISTORY}?$filter=HistoryType eq 'Delete'&$orderby=LogId")
    assert [d["LuName"] for d in deletes] == ["PostingProposalLine"] * line_count + [
        "PostingProposalHead"
    ]
    again = client.http.post("/_sandbox/delete", json={"set": "PostingProposalSet", "key": keys})
    assert again.status_code == 404


def test_a_proposal_is_removed_through_the_api_with_if_match(client: Ifs) -> None:
    proposal = period(client, "2026-10")[0]
    path = key(proposal["ProposalId"])

    assert client.send("DELETE", path, **{"If-Match": proposal["@odata.etag"]}).status_code == 204
    assert client.get(path).status_code == 404


def test_a_user_may_enter_an_unbalanced_proposal_on_an_ifs_only_account(client: Ifs) -> None:
    head = client.http.post(
        "/_sandbox/create",
        json={
            "set": "PostingProposalSet",
            "values": {
                "Company": "ACME01",
                "VoucherDate": "2026-10-20",
                "VoucherType": "I",
                "Objstate": "Authorized",
            },
        },
    )
    assert head.status_code == 201, head.text
    proposal_id = head.json()["ProposalId"]
    for account, amount in (("2000", None), ("7990", "99.99")):
        line = {
            "Company": "ACME01",
            "ProposalId": proposal_id,
            "Account": account,
            "CodeB": "CC100",
        }
        if amount:
            line["CurrencyDebetAmount"] = amount
        else:
            line["CurrencyCreditAmount"] = "100.00"
        created = client.http.post(
            "/_sandbox/create",
            content=json.dumps({"set": "PostingProposalLineSet", "values": line}),
        )
        assert created.status_code == 201, created.text

    read = {p["ProposalId"]: p for p in period(client, "2026-10", "Authorized")}
    assert proposal_id in read
    lines = lines_of(client, [proposal_id])
    assert [x["Account"] for x in lines] == ["2000", "7990"]
    api = client.send(
        "POST",
        f"{key(proposal_id)}/PostingProposalLineArray",
        {"Account": "7990", "CurrencyDebetAmount": 1},
    )
    unknown = client.send(
        "POST", f"{key(proposal_id)}/PostingProposalLineArray", {"Account": "9999"}
    )
    assert api.status_code == 201 and unknown.status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        {"set": "PostingProposalSet"},
        {"set": "NoSuchSet", "values": {}},
        {"set": "HistoryLogOverviewSet", "values": {}},
        {"set": "PostingProposalSet", "values": [1]},
        {
            "set": "PostingProposalLineSet",
            "values": {"Company": "ACME01", "ProposalId": 1, "Account": "2000"},
        },
    ],
)
def test_user_creates_and_deletes_that_cannot_be_are_refused(client: Ifs, body: dict) -> None:
    response = client.http.post("/_sandbox/create", json=body)
    assert response.status_code == 400, response.text
    deleted = client.http.post("/_sandbox/delete", json={"set": body["set"], "key": {}})
    assert deleted.status_code in (400, 404)


def test_every_proposal_of_the_seed_reads_back_page_by_page(client: Ifs) -> None:
    read = list(iter_pages(client, f"{PP}/PostingProposalSet?$select=ProposalId"))
    assert len(read) == len(client.raw("PostingProposalSet"))
