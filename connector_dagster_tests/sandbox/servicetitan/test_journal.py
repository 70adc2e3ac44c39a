"""ServiceTitan simulator, journal entries: create (External, no body back),
validation (balance, references, closed periods), optimistic `versionId` on
full updates and on sync, delete, summary and details — over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from connector_dagster_tests.sandbox.servicetitan.support import StSandbox


def _entry(name: str = "IFS proposal 4711", **overrides: Any) -> dict[str, Any]:
    lines = [
        {
            "accountId": 130,
            "debit": 125.5,
            "credit": 0,
            "businessUnitId": 501,
            "vendorId": 3101,
            "memo": "Stock receipt",
            "externalObjects": [
                {
                    "id": "ACME01-PP-4711-1",
                    "type": "IfsPostingProposal",
                    "name": "4711/1",
                    "url": None,
                }
            ],
        },
        {
            "accountId": 200,
            "debit": 0,
            "credit": 125.5,
            "businessUnitId": 501,
            "vendorId": 3101,
            "memo": "Stock receipt",
        },
    ]
    return {
        "name": name,
        "status": "Open",
        "versionId": 1,
        "postDate": "2026-03-15",
        "lines": lines,
        **overrides,
    }


def _find(st: StSandbox, name: str) -> dict[str, Any]:
    [entry] = st.ok("GET", "accounting", "journal-entries", params={"name": name})["data"]
    return entry


def test_create_answers_200_without_a_body_and_the_entry_is_found_by_name(st: StSandbox) -> None:
    response = st.call("POST", "accounting", "journal-entries", json=_entry())

    assert (response.status_code, response.content) == (200, b"")
    entry = _find(st, "proposal 4711")
    assert (entry["source"], entry["status"], entry["syncStatus"]) == (
        "External",
        "Open",
        "NotSynced",
    )
    assert (entry["versionId"], entry["postDate"], entry["isEmpty"]) == (1, "2026-03-15", False)
    assert entry["number"] == 1016  # after the 15 seeded entries
    assert st.ok("GET", "accounting", f"journal-entries/{entry['id']}") == entry


def test_details_keep_external_objects_and_name_references(st: StSandbox) -> None:
    st.ok("POST", "accounting", "journal-entries", json=_entry())
    entry = _find(st, "proposal 4711")

    details = st.ok("GET", "accounting", f"journal-entries/{entry['id']}/details")["data"]

    assert [d["account"]["number"] for d in details] == ["1300", "2000"]
    assert details[0]["externalObjects"][0]["id"] == "ACME01-PP-4711-1"
    assert details[0]["vendor"] == {"id": 3101, "name": "Ferguson #112"}
    assert details[0]["businessUnit"]["id"] == 501
    assert (details[0]["debit"], details[1]["credit"]) == (125.5, 125.5)


def test_summary_groups_lines_by_account_and_business_unit(st: StSandbox) -> None:
    seeded = st.ok("GET", "accounting", "journal-entries", params={"pageSize": 1})["data"][0]

    summary = st.ok(
        "GET", "accounting", f"journal-entries/{seeded['id']}/summary", params={"pageSize": 500}
    )["data"]

    keys = [(s["account"]["id"], s["businessUnit"]["id"]) for s in summary]
    assert len(keys) == len(set(keys))
    assert round(sum(s["debit"] for s in summary), 2) == round(sum(s["credit"] for s in summary), 2)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda e: e["lines"][0].update(debit=100), "lines"),  # unbalanced
        (lambda e: e["lines"][0].update(accountId=999), "lines[0].accountId"),
        (lambda e: e["lines"][0].pop("accountId"), "lines[0].accountId"),
        (lambda e: e["lines"][1].update(vendorId=1), "lines[1].vendorId"),
        (lambda e: e["lines"][1].update(businessUnitId=1), "lines[1].businessUnitId"),
        (lambda e: e.pop("versionId"), "versionId"),
        (lambda e: e.update(status="Posted"), "status"),
    ],
)
def test_invalid_entries_are_rejected_with_the_field(
    st: StSandbox, change: Any, field: str
) -> None:
    body = _entry()
    change(body)

    response = st.call("POST", "accounting", "journal-entries", json=body)

    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_closed_periods_refuse_postings(st: StSandbox) -> None:
    st.control("PUT", "faults", {"closed_periods": ["2026-03"]})

    closed = st.call("POST", "accounting", "journal-entries", json=_entry())
    open_ = st.call("POST", "accounting", "journal-entries", json=_entry(postDate="2026-04-01"))

    assert closed.status_code == 400
    assert "2026-03 is closed" in closed.json()["title"]
    assert open_.status_code == 200


def test_full_update_needs_the_current_version_and_bumps_it(st: StSandbox) -> None:
    st.ok("POST", "accounting", "journal-entries", json=_entry())
    entry = _find(st, "proposal 4711")
    url = f"journal-entries/{entry['id']}"

    updated = st.call("PUT", "accounting", url, json=_entry(message="re-posted", versionId=1))
    stale = st.call("PUT", "accounting", url, json=_entry(versionId=1))

    assert (updated.status_code, updated.content) == (200, b"")
    assert stale.status_code == 400
    assert "versionId" in stale.json()["errors"]
    after = st.ok("GET", "accounting", url)
    assert (after["versionId"], after["message"]) == (2, "re-posted")


def test_sync_to_synced_names_the_version_and_a_later_edit_puts_it_out_of_sync(
    st: StSandbox,
) -> None:
    st.ok("POST", "accounting", "journal-entries", json=_entry())
    entry = _find(st, "proposal 4711")
    url = f"journal-entries/{entry['id']}/sync"

    wrong = st.call("PATCH", "accounting", url, json={"syncStatus": "Synced", "versionId": 7})
    synced = st.ok(
        "PATCH", "accounting", url, json={"syncStatus": "Synced", "versionId": 1, "message": "ok"}
    )
    touched = st.control("POST", f"journal-entries/{entry['id']}/touch")

    assert wrong.status_code == 400
    assert (synced["syncStatus"], synced["lastSyncVersionId"]) == ("Synced", 1)
    assert synced["exportedOn"] is not None
    assert (touched["syncStatus"], touched["versionId"]) == ("OutOfSync", 2)


def test_patch_changes_status_and_merges_custom_fields(st: StSandbox) -> None:
    st.ok("POST", "accounting", "journal-entries", json=_entry(customFields={"IFS": "4711"}))
    entry = _find(st, "proposal 4711")

    patched = st.ok(
        "PATCH",
        "accounting",
        f"journal-entries/{entry['id']}",
        json={"status": "Closed", "customFields": {"Batch": "B-9"}},
    )
    by_field = st.ok("GET", "accounting", "journal-entries", params={"customField.IFS": "4711"})

    assert patched["status"] == "Closed"
    assert {c["name"]: c["value"] for c in patched["customFields"]} == {
        "IFS": "4711",
        "Batch": "B-9",
    }
    assert [e["id"] for e in by_field["data"]] == [entry["id"]]


def test_servicetitan_entries_cannot_be_replaced_or_deleted_but_external_ones_can(
    st: StSandbox,
) -> None:
    native = st.ok("GET", "accounting", "journal-entries", params={"pageSize": 1})["data"][0]
    st.ok("POST", "accounting", "journal-entries", json=_entry())
    external = _find(st, "proposal 4711")

    replace = st.call(
        "PUT",
        "accounting",
        f"journal-entries/{native['id']}",
        json=_entry(versionId=native["versionId"]),
    )
    delete_native = st.call("DELETE", "accounting", f"journal-entries/{native['id']}")
    delete_external = st.call("DELETE", "accounting", f"journal-entries/{external['id']}")

    assert replace.status_code == delete_native.status_code == 400
    assert delete_external.status_code == 200
    assert st.get("accounting", f"journal-entries/{external['id']}").status_code == 400


def test_unknown_entry_is_400_as_the_spec_documents(st: StSandbox) -> None:
    response = st.get("accounting", "journal-entries/00000000-0000-4000-8000-000000000000")

    assert response.status_code == 400
    assert "not found" in response.json()["title"]


def test_list_filters_and_the_500_page_cap(st: StSandbox) -> None:
    closed = st.ok(
        "GET", "accounting", "journal-entries", params={"statuses": "Closed", "pageSize": 5000}
    )
    synced = st.ok("GET", "accounting", "journal-entries", params={"syncStatuses": "NotSynced"})
    posted = st.ok(
        "GET",
        "accounting",
        "journal-entries",
        params={"postedFrom": "2026-01-01", "postedTo": "2026-01-31"},
    )
    by_unit = st.ok("GET", "accounting", "journal-entries", params={"businessUnitIds": "502"})

    assert closed["pageSize"] == 500
    assert len(closed["data"]) == 13 and {e["status"] for e in closed["data"]} == {"Closed"}
    assert len(synced["data"]) == 2
    assert [e["postDate"] for e in posted["data"]] == ["2026-01-31"]
    assert len(by_unit["data"]) == 15
