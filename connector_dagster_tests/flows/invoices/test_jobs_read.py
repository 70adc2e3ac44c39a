"""F3's jobs read takes the path of fewer requests: a period naming few jobs asks for
them by id, one naming many reads the jobs completed in the period and asks by id only
for those it did not hold; both give the same jobs. Requests are counted by the
ServiceTitan simulator."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from connector_dagster.defs.invoices import source
from connector_dagster.engine import flow, registry
from connector_dagster.engine.records import Period
from connector_dagster.engine.session import Session
from connector_dagster_tests.flows.postings import clear, requests

JOBS_ROUTE = "GET jpm/jobs"


def read_jobs(base: str, period: str) -> tuple[Any, Any, Counter]:
    """The period's invoices and jobs as F3 reads them, and the requests of the jobs
    read alone, by route."""
    spec = registry.flow("invoices")
    invoices_read, jobs_read = (read.name for read in spec.reads)
    with Session.open("sandbox") as session:
        invoices = flow.read(spec, session, invoices_read, Period.parse(period), {})
        clear(base)
        jobs = flow.read(
            spec, session, jobs_read, Period.parse(period), {invoices_read: invoices.frames}
        )
    calls = Counter({route: n for (method, route), n in requests(base).items()})
    return invoices, jobs, calls


def job_rows(jobs: Any) -> list[tuple]:
    frame = jobs.frames["jobs"].sort_values("id")
    return [tuple(row) for row in frame.itertuples(index=False)]


def test_a_period_naming_few_jobs_reads_them_by_id(sandbox_connection: dict) -> None:
    base = sandbox_connection["servicetitan"]["api_url"]
    invoices, jobs, calls = read_jobs(base, "2025-11")
    named = {int(i) for i in invoices.frames["invoices"]["jobId"] if i is not None}
    assert 50 < len(named) <= source.BY_ID_MAX  # two calls of 50 ids
    assert calls == {JOBS_ROUTE: 2}
    assert jobs.metadata["path"] == "by_id"
    assert set(jobs.frames["jobs"]["id"]) == named
    assert jobs.metadata["missing"] == 0


def test_a_period_naming_many_jobs_lists_those_completed_in_it_then_the_rest_by_id(
    sandbox_connection: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """November 2025 holds an adjustment whose job is October's: the list of jobs
    completed in November holds every other job the period names, in one call, and
    the adjustment's job is asked for by id, in one more."""
    base = sandbox_connection["servicetitan"]["api_url"]
    _, by_id, _ = read_jobs(base, "2025-11")
    monkeypatch.setattr(source, "BY_ID_MAX", 10)  # as if the period named many jobs
    invoices, listed, calls = read_jobs(base, "2025-11")
    assert calls == {JOBS_ROUTE: 2}
    assert listed.metadata["path"] == "list"
    assert listed.metadata["by_id"] == 1
    assert listed.metadata["from_list"] == listed.metadata["named"] - 1
    assert job_rows(listed) == job_rows(by_id)
    adjustments = invoices.frames["invoices"]["adjustmentToId"].notna().sum()
    assert adjustments == 1
