"""ServiceTitan simulator, jpm and settings APIs: jobs behind the invoices, their
export feed, and business units (active by default) — over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connector_dagster.sandbox import world
from connector_dagster_tests.sandbox.servicetitan.support import StSandbox, st_sandbox


@pytest.fixture(scope="module")
def st() -> Iterator[StSandbox]:
    with st_sandbox() as sandbox:
        yield sandbox


def test_every_job_points_at_its_invoice_and_back(st: StSandbox) -> None:
    jobs = st.ok("GET", "jpm", "jobs", params={"pageSize": 50})["data"]
    invoices = st.ok(
        "GET",
        "accounting",
        "invoices",
        params={"ids": ",".join(str(j["invoiceId"]) for j in jobs), "activeState": "All"},
    )

    by_id = {i["id"]: i for i in invoices["data"]}
    for job in jobs:
        invoice = by_id[job["invoiceId"]]
        assert invoice["job"]["id"] == job["id"]
        assert invoice["businessUnit"]["id"] == job["businessUnitId"]
        assert job["total"] == float(invoice["total"])
        assert job["jobStatus"] == "Completed"


def test_job_by_id_filters_and_404(st: StSandbox) -> None:
    job = st.ok("GET", "jpm", "jobs/88000001")
    by_unit = st.ok("GET", "jpm", "jobs", params={"businessUnitId": 502, "pageSize": 500})
    completed = st.ok(
        "GET",
        "jpm",
        "jobs",
        params={
            "completedOnOrAfter": "2026-06-01",
            "completedBefore": "2026-07-01",
            "includeTotal": "true",
        },
    )

    assert job["jobNumber"] == "88000001"
    assert {j["businessUnitId"] for j in by_unit["data"]} == {502}
    assert completed["totalCount"] == 60
    assert st.get("jpm", "jobs/1").status_code == 404
    assert st.get("jpm", "jobs", jobStatus="Lost").status_code == 400


def test_job_export_rows_carry_active(st: StSandbox) -> None:
    feed = st.ok("GET", "jpm", "export/jobs", params={"from": "2026-12-15"})

    assert feed["data"] and all(row["active"] is True for row in feed["data"])
    assert feed["hasMore"] is False


def test_business_units_are_world_regions_and_one_inactive_legacy_unit(st: StSandbox) -> None:
    active = st.ok("GET", "settings", "business-units")["data"]
    every = st.ok("GET", "settings", "business-units", params={"active": "Any"})["data"]
    legacy = st.ok("GET", "settings", "business-units/509")

    extra = world.ST_EXTRA_BUSINESS_UNITS  # those only onboarding maps, all active
    assert [u["id"] for u in active] == [r.st_business_unit_id for r in world.REGIONS] + [
        int(b.code) for b in extra
    ]
    assert [u["accountCode"] for u in active] == [r.cost_centre for r in world.REGIONS] + [
        b.number or None for b in extra
    ]
    assert len(every) == len(active) + 1
    assert (legacy["active"], legacy["name"]) == (False, 'Legacy "Old" Ünit \u2013 closed')
    assert (
        st.ok("GET", "settings", "business-units", params={"name": "south"})["data"][0]["id"] == 502
    )
    assert st.get("settings", "business-units/1").status_code == 404


def test_business_unit_export_includes_inactive_units(st: StSandbox) -> None:
    feed = st.ok("GET", "settings", "export/business-units")

    assert len(feed["data"]) == len(world.REGIONS) + 1 + len(world.ST_EXTRA_BUSINESS_UNITS)
    assert {u["active"] for u in feed["data"]} == {True, False}
