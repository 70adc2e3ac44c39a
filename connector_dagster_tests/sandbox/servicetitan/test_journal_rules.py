"""ServiceTitan simulator, journal entries as flow F2 uses them: details that
carry what was posted, provenance look-ups through the list filters, closed
accounting periods (control endpoints, refusals naming the period), the delete
and lock rules, and error bodies a client can tell apart — over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connector_dagster_tests.sandbox.servicetitan.support import StSandbox

LINES = [
    {
        "postDate": "2026-03-14",
        "accountId": 130,
        "debit": 125.5,
        "credit": 0,
        "memo": "Stock receipt PO 4711",
        "quantity": 2.0,
        "unitAmount": 62.75,
        "externalObjects": [
            {"id": "ACME01-PP-4711-1", "type": "IfsPostingProposal", "name": "4711/1", "url": None}
        ],
        "businessUnitId": 501,
        "vendorId": 3101,
        "inventoryLocationId": 77,
        "jobId": 88000001,
        "customerLocationId": 6001,
        "paymentTypeId": 3,
        "projectId": 44,
        "budgetCodeId": 9,
        "serviceAgreementId": 55,
        "appliedTo": {"id": 77000001, "type": "Invoice", "refNumber": "88000001"},
        "sku": {"id": 55501, "type": "Material"},
    },
    {
        "accountId": 200,
        "debit": 0,
        "credit": 125.5,
        "memo": "Payable",
        "businessUnitId": 501,
        "vendorId": 3101,
        "customerId": 5001,
    },
]


def _entry(name: str = "IFS ACME01 PP 4711", **overrides: Any) -> dict[str, Any]:
    return {
        "name": name,
        "status": "Open",
        "versionId": 1,
        "postDate": "2026-03-15",
        "customFields": {"IfsKey": "ACME01-PP-4711"},
        "lines": LINES,
        **overrides,
    }


def _create(st: StSandbox, **overrides: Any) -> dict[str, Any]:
    body = _entry(**overrides)
    st.ok("POST", "accounting", "journal-entries", json=body)
    [entry] = st.ok("GET", "accounting", "journal-entries", params={"name": body["name"]})["data"]
    return entry


def _refusal(response: httpx.Response, code: str) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"type", "title", "status", "traceId", "errors", "data"}
    assert body["data"]["code"] == code
    return body


def test_details_carry_every_posted_line_field(st: StSandbox) -> None:
    entry = _create(st)

    details = st.ok("GET", "accounting", f"journal-entries/{entry['id']}/details")["data"]

    posted, payable = details
    assert posted["account"] == {
        "id": 130,
        "number": "1300",
        "name": "Inventory",
        "type": "OtherCurrentAsset",
        "subtype": "Inventory",
    }
    assert (posted["debit"], posted["credit"], posted["memo"]) == (125.5, 0, LINES[0]["memo"])
    assert (posted["quantity"], posted["unitAmount"]) == (2.0, 62.75)
    assert posted["externalObjects"] == LINES[0]["externalObjects"]
    assert (posted["postDate"], posted["transactionDate"]) == ("2026-03-14", "2026-03-14")
    assert posted["businessUnit"]["id"] == 501 and posted["businessUnit"]["name"]
    assert posted["vendor"] == {"id": 3101, "name": "Ferguson #112"}
    assert posted["inventoryLocation"]["id"] == 77
    assert posted["job"] == {"id": 88000001, "number": "88000001"}
    assert posted["customerLocation"]["id"] == 6001
    assert posted["paymentType"]["id"] == 3
    assert (posted["project"], posted["serviceAgreement"]) == (
        {"id": 44, "number": "44"},
        {"id": 55, "number": "55"},
    )
    assert posted["appliedTo"] == LINES[0]["appliedTo"]
    assert posted["sku"]["id"] == 55501 and posted["sku"]["code"]
    assert posted["budgetCodeId"] == 9
    assert (payable["postDate"], payable["credit"], payable["memo"]) == (
        "2026-03-15",
        125.5,
        "Payable",
    )
    assert payable["customer"]["id"] == 5001 and payable["externalObjects"] == []


def test_an_entry_is_found_by_its_provenance_through_the_list_filters(st: StSandbox) -> None:
    before = st.ok("GET", "accounting", "journal-entries", params={"pageSize": 1})["data"][0]
    entry = _create(st)
    _create(st, name="IFS ACME01 PP 4712", customFields={"IfsKey": "ACME01-PP-4712"})

    def ids(**params: Any) -> list[str]:
        found = st.ok("GET", "accounting", "journal-entries", params={"pageSize": 500, **params})
        return [e["id"] for e in found["data"]]

    assert ids(**{"customField.IfsKey": "ACME01-PP-4711"}) == [entry["id"]]
    assert ids(name="pp 4711") == [entry["id"]]
    assert entry["id"] in ids(createdOnOrAfter=entry["createdOn"], vendorName="ferguson")
    assert entry["id"] in ids(modifiedOnOrAfter=entry["modifiedOn"], serviceAgreementIds="55")
    assert before["id"] not in ids(createdOnOrAfter=entry["createdOn"])
    assert ids(inventoryLocationName="zzz") == []
    assert ids(**{f"customField.F{n}": "x" for n in range(5)}) == []
    too_many = st.get(
        "accounting", "journal-entries", **{f"customField.F{n}": "x" for n in range(6)}
    )
    assert too_many.status_code == 400 and "customField" in too_many.json()["errors"]


def test_closing_a_period_refuses_entries_dated_in_it_and_names_the_period(st: StSandbox) -> None:
    entry = _create(st)
    url = f"journal-entries/{entry['id']}"

    closed = st.control("POST", "accounting-periods/2026-03/close")
    create = st.call("POST", "accounting", "journal-entries", json=_entry(name="late"))
    replace = st.call("PUT", "accounting", url, json=_entry(postDate="2026-04-02", versionId=1))
    delete = st.call("DELETE", "accounting", url)
    close_status = st.call("PATCH", "accounting", url, json={"status": "Closed"})
    synced = st.call(
        "PATCH", "accounting", f"{url}/sync", json={"syncStatus": "Synced", "versionId": 1}
    )
    listed = st.control("GET", "accounting-periods")

    assert closed == {"period": "2026-03", "closed": True, "closedPeriods": ["2026-03"]}
    for refused in (create, replace, delete, close_status):
        body = _refusal(refused, "AccountingPeriodClosed")
        assert body["data"]["period"] == "2026-03"
        assert body["title"] == "Accounting period 2026-03 is closed."
    assert "lines[0].postDate" in create.json()["errors"]
    assert synced.status_code == 200
    assert listed == {"closed": ["2026-03"]}
    assert st.ok("GET", "accounting", url)["versionId"] == 1


def test_moving_an_entry_into_a_closed_period_is_refused_and_reopening_allows_it(
    st: StSandbox,
) -> None:
    april = [{**line, "postDate": None} for line in LINES]
    entry = _create(st, postDate="2026-04-10", lines=april)
    url = f"journal-entries/{entry['id']}"
    st.control("POST", "accounting-periods/2026-03/close")

    into = st.call("PUT", "accounting", url, json=_entry(lines=april, versionId=1))
    st.control("POST", "accounting-periods/2026-03/reopen")
    after = st.call("PUT", "accounting", url, json=_entry(lines=april, versionId=1))

    assert _refusal(into, "AccountingPeriodClosed")["errors"]["postDate"]
    assert after.status_code == 200
    assert st.control("GET", "accounting-periods") == {"closed": []}


def test_a_new_entry_without_a_post_date_is_dated_today_and_checked_against_it(
    st: StSandbox,
) -> None:
    undated = [{**line, "postDate": None} for line in LINES]
    st.ok(
        "POST",
        "accounting",
        "journal-entries",
        json=_entry(name="undated", postDate=None, lines=undated),
    )
    [entry] = st.ok("GET", "accounting", "journal-entries", params={"name": "undated"})["data"]
    period = entry["postDate"][:7]

    st.control("POST", f"accounting-periods/{period}/close")
    refused = st.call(
        "POST",
        "accounting",
        "journal-entries",
        json=_entry(name="again", postDate=None, lines=undated),
    )

    assert _refusal(refused, "AccountingPeriodClosed")["data"]["period"] == period


@pytest.mark.parametrize("period", ["2026-13", "2026-3", "march", "2026-03-01"])
def test_a_malformed_period_is_a_400(st: StSandbox, period: str) -> None:
    response = st.client.post(f"/_sandbox/accounting-periods/{period}/close")

    assert response.status_code == 400
    assert "period" in response.json()["errors"]
    assert st.control("GET", "accounting-periods") == {"closed": []}


def test_a_closed_entry_is_locked_until_reopened(st: StSandbox) -> None:
    entry = _create(st)
    url = f"journal-entries/{entry['id']}"
    st.ok("PATCH", "accounting", url, json={"status": "Closed"})

    replace = st.call("PUT", "accounting", url, json=_entry(versionId=1))
    delete = st.call("DELETE", "accounting", url)
    st.ok("PATCH", "accounting", url, json={"status": "Open"})
    deleted = st.call("DELETE", "accounting", url)

    assert "status" in _refusal(replace, "JournalEntryClosed")["errors"]
    _refusal(delete, "JournalEntryClosed")
    assert deleted.status_code == 200
    assert st.get("accounting", url).status_code == 400


def test_a_synced_open_entry_can_still_be_deleted(st: StSandbox) -> None:
    entry = _create(st)
    url = f"journal-entries/{entry['id']}"
    st.ok("PATCH", "accounting", f"{url}/sync", json={"syncStatus": "Synced", "versionId": 1})

    assert st.call("DELETE", "accounting", url).status_code == 200


def test_servicetitan_entries_and_stale_versions_are_refused_with_their_codes(
    st: StSandbox,
) -> None:
    native = st.ok("GET", "accounting", "journal-entries", params={"statuses": "Open"})["data"][0]
    entry = _create(st)
    url = f"journal-entries/{entry['id']}"
    st.ok("PUT", "accounting", url, json=_entry(versionId=1))

    stale = st.call("PUT", "accounting", url, json=_entry(versionId=1))
    foreign = st.call("DELETE", "accounting", f"journal-entries/{native['id']}")

    assert _refusal(stale, "VersionConflict")["data"]["currentVersionId"] == 2
    assert "versionId" in stale.json()["errors"]
    _refusal(foreign, "JournalEntryNotExternal")


def test_an_inactive_gl_account_or_unknown_pricebook_item_is_refused(st: StSandbox) -> None:
    created = st.call(
        "POST",
        "accounting",
        "gl-accounts",
        json={"name": "Old fuel", "number": "6190", "type": "Expense"},
    ).json()
    st.ok("PATCH", "accounting", f"gl-accounts/{created['id']}", json={"active": False})
    inactive = [{**LINES[0], "accountId": created["id"]}, LINES[1]]
    unknown_sku = [{**LINES[0], "sku": {"id": 1, "type": "Material"}}, LINES[1]]

    on_inactive = st.call("POST", "accounting", "journal-entries", json=_entry(lines=inactive))
    on_unknown = st.call("POST", "accounting", "journal-entries", json=_entry(lines=unknown_sku))

    assert on_inactive.status_code == on_unknown.status_code == 400
    assert "inactive" in on_inactive.json()["errors"]["lines[0].accountId"][0]
    assert "lines[0].sku.id" in on_unknown.json()["errors"]
