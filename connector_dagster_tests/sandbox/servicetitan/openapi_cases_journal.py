"""OpenAPI conformance cases of the ServiceTitan simulator's journal-entry
routes (run by `test_openapi_conformance.py`)."""

from __future__ import annotations

from typing import Any

from connector_dagster_tests.sandbox.servicetitan.openapi_harness import Cases, Checked

CASES = Cases()


JE_LINES = [
    {
        "accountId": 610,
        "debit": 80.0,
        "credit": 0,
        "businessUnitId": 502,
        "vendorId": 3102,
        "memo": "Fleet",
        "externalObjects": [
            {"id": "ACME01-PP-1-1", "type": "IfsPostingProposal", "name": "1/1", "url": None}
        ],
    },
    {"accountId": 200, "debit": 0, "credit": 80.0, "businessUnitId": 502, "vendorId": 3102},
]


def _external_je(call: Checked, name: str) -> dict[str, Any]:
    body = {
        "name": name,
        "status": "Open",
        "versionId": 1,
        "postDate": "2026-04-30",
        "customFields": {"Source": "IFS"},
        "lines": JE_LINES,
    }
    call("POST", "accounting", "journal-entries", json=body)
    return call("GET", "accounting", "journal-entries", params={"name": name})["data"][0]


@CASES.case("GET", "accounting", "journal-entries")
def _list_jes(call: Checked) -> None:
    call(
        "GET",
        "accounting",
        "journal-entries",
        params=[("statuses", "Closed"), ("syncStatuses", "Synced"), ("sort", "-Number")],
    )
    call("GET", "accounting", "journal-entries", params={"ids": "nope"}, expect=400)


@CASES.case("POST", "accounting", "journal-entries")
def _create_je(call: Checked) -> None:
    _external_je(call, "conformance create")
    unbalanced = {"status": "Open", "versionId": 1, "lines": JE_LINES[:1]}
    call("POST", "accounting", "journal-entries", json=unbalanced, expect=400)
    late = {"status": "Open", "versionId": 1, "postDate": "2031-01-15", "lines": JE_LINES}
    call.st.control("POST", "accounting-periods/2031-01/close")
    try:
        refused = call("POST", "accounting", "journal-entries", json=late, expect=400)
    finally:
        call.st.control("POST", "accounting-periods/2031-01/reopen")
    assert refused["data"] == {
        "code": "AccountingPeriodClosed",
        "period": "2031-01",
        "periods": ["2031-01"],
    }


@CASES.case("GET", "accounting", "journal-entries/{id}")
def _get_je(call: Checked) -> None:
    entry = _external_je(call, "conformance get")
    call("GET", "accounting", f"journal-entries/{entry['id']}")
    call("GET", "accounting", "journal-entries/00000000-0000-4000-8000-000000000000", expect=400)


@CASES.case("PUT", "accounting", "journal-entries/{id}")
def _replace_je(call: Checked) -> None:
    entry = _external_je(call, "conformance put")
    body = {"name": "conformance put", "status": "Open", "versionId": 1, "lines": JE_LINES}
    call("PUT", "accounting", f"journal-entries/{entry['id']}", json=body)
    call("PUT", "accounting", f"journal-entries/{entry['id']}", json=body, expect=400)


@CASES.case("PATCH", "accounting", "journal-entries/{id}")
def _update_je(call: Checked) -> None:
    entry = _external_je(call, "conformance patch")
    call(
        "PATCH",
        "accounting",
        f"journal-entries/{entry['id']}",
        json={"status": "Closed", "customFields": {"Batch": None}},
    )


@CASES.case("DELETE", "accounting", "journal-entries/{id}")
def _delete_je(call: Checked) -> None:
    entry = _external_je(call, "conformance delete")
    call("DELETE", "accounting", f"journal-entries/{entry['id']}")
    native = call("GET", "accounting", "journal-entries", params={"pageSize": 1})["data"][0]
    call("DELETE", "accounting", f"journal-entries/{native['id']}", expect=400)
    closed = _external_je(call, "conformance delete closed")
    call("PATCH", "accounting", f"journal-entries/{closed['id']}", json={"status": "Closed"})
    call("DELETE", "accounting", f"journal-entries/{closed['id']}", expect=400)


@CASES.case("PATCH", "accounting", "journal-entries/{id}/sync")
def _sync_je(call: Checked) -> None:
    entry = _external_je(call, "conformance sync")
    url = f"journal-entries/{entry['id']}/sync"
    call("PATCH", "accounting", url, json={"syncStatus": "Synced", "versionId": 1, "message": "ok"})
    call("PATCH", "accounting", url, json={"syncStatus": "Synced", "versionId": 9}, expect=400)


@CASES.case("GET", "accounting", "journal-entries/{id}/summary")
def _je_summary(call: Checked) -> None:
    native = call("GET", "accounting", "journal-entries", params={"pageSize": 1})["data"][0]
    call("GET", "accounting", f"journal-entries/{native['id']}/summary", params={"pageSize": 5})


@CASES.case("GET", "accounting", "journal-entries/{id}/details")
def _je_details(call: Checked) -> None:
    entry = _external_je(call, "conformance details")
    call("GET", "accounting", f"journal-entries/{entry['id']}/details")
