"""Accounting periods closed per company in the IFS simulator: postings dated in them
are refused with IFS's PERIODCLOSED error until the period is reopened."""

from __future__ import annotations

import httpx
import pytest

from connector_dagster_tests.sandbox.ifs.support import CHECK, EV, PP, Ifs
from connector_dagster_tests.sandbox.ifs.test_postings import action, add_row, path, voucher


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
