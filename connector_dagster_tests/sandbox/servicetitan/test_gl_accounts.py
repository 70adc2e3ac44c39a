"""ServiceTitan simulator, GL accounts as flow F2 creates them: account types and
subtypes, create (201, PublicApi, usable in journal lines at once), duplicates
(409), bad input (400 naming the field), partial update — over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from connector_dagster.sandbox import world
from connector_dagster_tests.sandbox.servicetitan.support import StSandbox

NEW = {"name": "Fleet fuel", "number": "6110", "type": "Expense", "subtype": "Expense"}


def _create(st: StSandbox, **overrides: Any) -> dict[str, Any]:
    response = st.call("POST", "accounting", "gl-accounts", json={**NEW, **overrides})
    assert response.status_code == 201, response.text
    return response.json()


def test_types_list_account_types_and_their_subtypes(st: StSandbox) -> None:
    types = st.ok("GET", "accounting", "gl-accounts/types", params={"pageSize": 100})["data"]
    every = st.ok("GET", "accounting", "gl-accounts/types", params={"active": "Any"})
    income = st.ok("GET", "accounting", "gl-accounts/types", params={"names": "Income"})["data"]

    top = {t["name"]: t["id"] for t in types if t["parentTypeId"] is None}
    revenue = next(t for t in types if t["name"] == "Revenue")
    assert {"Income", "Expense", "OtherCurrentAsset", "AccountsPayable"} <= set(top)
    assert revenue["parentTypeId"] == top["Income"]
    assert all(t["active"] for t in types)
    assert len(every["data"]) == len(types) + 1
    assert [t["id"] for t in income] == [top["Income"]]


def test_seeded_accounts_use_the_listed_types_and_subtypes(st: StSandbox) -> None:
    types = st.ok("GET", "accounting", "gl-accounts/types", params={"pageSize": 100})["data"]
    accounts = st.ok("GET", "accounting", "gl-accounts", params={"pageSize": 100})["data"]

    by_id = {t["id"]: t for t in types}
    pairs = {
        (by_id[t["parentTypeId"]]["name"], t["name"])
        for t in types
        if t["parentTypeId"] is not None
    }
    assert {(a["type"], a["subtype"]) for a in accounts} <= pairs


def test_create_answers_201_with_the_account_and_it_is_listed_and_postable(
    st: StSandbox,
) -> None:
    created = _create(st, description="Gas cards")
    lines = [
        {"accountId": created["id"], "debit": 40.0, "credit": 0, "businessUnitId": 501},
        {"accountId": 200, "debit": 0, "credit": 40.0, "businessUnitId": 501},
    ]
    entry = {"name": "fuel", "status": "Open", "versionId": 1, "postDate": "2026-05-02"}

    listed = st.ok("GET", "accounting", "gl-accounts", params={"numbers": "6110"})["data"]
    posted = st.call("POST", "accounting", "journal-entries", json={**entry, "lines": lines})

    assert {k: created[k] for k in (*NEW, "description", "source", "active")} == {
        **NEW,
        "description": "Gas cards",
        "source": "PublicApi",
        "active": True,
    }
    assert created["id"] > 610 and created["createdOn"] == created["modifiedOn"]
    assert listed == [created]
    assert st.ok("GET", "accounting", f"gl-accounts/{created['id']}") == created
    assert posted.status_code == 200


def test_type_and_subtype_are_matched_without_case_and_stored_as_listed(st: StSandbox) -> None:
    created = _create(st, type="costofgoodssold", subtype="COSTOFGOODSSOLDLABOR", number="5030")

    assert (created["type"], created["subtype"]) == ("CostOfGoodsSold", "CostOfGoodsSoldLabor")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"number": "4010"}, "number"),
        ({"number": " 4010 "}, "number"),
        ({"name": "sales - materials"}, "name"),
    ],
)
def test_a_used_number_or_name_is_a_409_naming_the_account(
    st: StSandbox, change: dict[str, str], field: str
) -> None:
    response = st.call("POST", "accounting", "gl-accounts", json={**NEW, **change})

    assert response.status_code == 409
    assert "GL account 401" in response.json()["errors"][field][0]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**NEW, "name": None}, "name"),
        ({**NEW, "number": "  "}, "number"),
        ({k: v for k, v in NEW.items() if k != "type"}, "type"),
        ({**NEW, "type": "Assets"}, "type"),
        ({**NEW, "subtype": "Revenue"}, "subtype"),
        ({**NEW, "subtype": "Suspense", "type": "OtherExpense"}, "subtype"),
        ({**NEW, "number": 6110}, "number"),
        ({**NEW, "active": True}, "active"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(st: StSandbox, body: dict, field: str) -> None:
    before = st.control("GET", "state")["counts"]["gl-accounts"]

    response = st.call("POST", "accounting", "gl-accounts", json=body)

    assert response.status_code == 400, response.text
    assert field in response.json()["errors"]
    assert st.control("GET", "state")["counts"]["gl-accounts"] == before


def test_patch_changes_only_the_given_fields_and_checks_them(st: StSandbox) -> None:
    created = _create(st)
    url = f"gl-accounts/{created['id']}"

    patched = st.ok("PATCH", "accounting", url, json={"name": "Fuel", "active": False})
    clash = st.call("PATCH", "accounting", url, json={"number": "6100"})
    wrong_type = st.call("PATCH", "accounting", url, json={"type": "Income"})
    listed = st.ok("GET", "accounting", "gl-accounts", params={"active": "False"})["data"]

    assert {k: patched[k] for k in ("name", "number", "active")} == {
        "name": "Fuel",
        "number": "6110",
        "active": False,
    }
    assert patched["modifiedOn"] >= created["modifiedOn"]
    assert clash.status_code == 409
    assert wrong_type.status_code == 400 and "subtype" in wrong_type.json()["errors"]
    seeded_inactive = [int(a.code) for a in world.ST_EXTRA_GL_ACCOUNTS if not a.active]
    assert [a["id"] for a in listed] == [*seeded_inactive, created["id"]]
    assert st.call("PATCH", "accounting", "gl-accounts/1", json={}).status_code == 404
