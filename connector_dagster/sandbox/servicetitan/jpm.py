"""ServiceTitan job-planning API (`/jpm/v2/tenant/{tenant}/…`): jobs (one per
seeded invoice) and the job export feed."""

from __future__ import annotations

from connector_dagster.sandbox.servicetitan.common import Row, fmt_ts, not_found, num
from connector_dagster.sandbox.servicetitan.query import (
    STANDARD_SORTS,
    F,
    page,
    select,
    sort_rows,
)
from connector_dagster.sandbox.servicetitan.store import Call, export

JOB_STATUSES = ("Scheduled", "Dispatched", "InProgress", "Hold", "Completed", "Canceled")
APPOINTMENT_OFFSET = 11_000_000  # job 88000001 has appointment 99000001
CAMPAIGN_ID = 12
# The job of webhook payloads: JobResponse without these.
NOT_IN_EVENTS = frozenset(("summary", "customFields", "externalData"))
_PRIORITY = {"Low": 0, "Normal": 1, "High": 2, "Urgent": 3}
_SORTS = {**STANDARD_SORTS, "Priority": lambda r: _PRIORITY.get(r["priority"], 1)}


def render_job(job: Row) -> Row:
    appointment = job["id"] + APPOINTMENT_OFFSET
    return {
        "id": job["id"],
        "jobNumber": str(job["id"]),
        "projectId": None,
        "customerId": job["customerId"],
        "locationId": job["locationId"],
        "jobStatus": job["jobStatus"],
        "completedOn": fmt_ts(job["completedOn"]),
        "businessUnitId": job["businessUnitId"],
        "jobTypeId": job["jobTypeId"],
        "priority": job["priority"],
        "campaignId": CAMPAIGN_ID,
        "appointmentCount": 1,
        "firstAppointmentId": appointment,
        "lastAppointmentId": appointment,
        "recallForId": None,
        "warrantyId": None,
        "jobGeneratedLeadSource": None,
        "noCharge": job["noCharge"],
        "notificationsEnabled": True,
        "createdOn": fmt_ts(job["createdOn"]),
        "createdById": 10,
        "modifiedOn": fmt_ts(job["modifiedOn"]),
        "tagTypeIds": [],
        "leadCallId": None,
        "partnerLeadCallId": None,
        "bookingId": None,
        "soldById": job["soldById"],
        "customerPo": "",
        "invoiceId": job["invoiceId"],
        "membershipId": None,
        "total": num(job["total"]),
        "createdFromEstimateId": None,
        "estimateIds": [],
        "summary": job["summary"],
        "customFields": [],
        "externalData": [],
    }


def event_job(job: Row) -> Row:
    """The `job` of a `tn.jpm.job-*` webhook."""
    return {k: v for k, v in render_job(job).items() if k not in NOT_IN_EVENTS}


def list_jobs(c: Call) -> Row:
    filters = (
        F("createdOnOrAfter", "since", lambda r: r["createdOn"]),
        F("createdBefore", "before", lambda r: r["createdOn"]),
        F("modifiedOnOrAfter", "since", lambda r: r["modifiedOn"]),
        F("modifiedBefore", "before", lambda r: r["modifiedOn"]),
        F("completedOnOrAfter", "since", lambda r: r["completedOn"]),
        F("completedBefore", "before", lambda r: r["completedOn"]),
        F("number", "eqi", lambda r: str(r["id"])),
        F("jobStatus", "enum", lambda r: r["jobStatus"], JOB_STATUSES),
        F("priority", "eqi", lambda r: r["priority"]),
        F("customerId", "eq", lambda r: r["customerId"]),
        F("locationId", "eq", lambda r: r["locationId"]),
        F("businessUnitId", "eq", lambda r: r["businessUnitId"]),
        F("invoiceId", "eq", lambda r: r["invoiceId"]),
        F("jobTypeId", "eq", lambda r: r["jobTypeId"]),
        F("soldById", "eq", lambda r: r["soldById"]),
    )
    rows = c.store.listed(
        "jobs", c.q, lambda: sort_rows(select(c.store.tables["jobs"], c.q, filters), c.q, _SORTS)
    )
    return page(rows, c.q, render_job, c.page_max)


def get_job(c: Call) -> Row:
    job_id = c.path_int("id", "Job")
    job = c.store.tables["jobs"].get(job_id)
    if job is None:
        raise not_found(f"Job {job_id}")
    return render_job(job)


def export_jobs(c: Call) -> Row:
    feed = export(c.store, "jobs", c.q, c.page_max)
    feed["data"] = [{**render_job(job), "active": job["active"]} for job in feed["data"]]
    return feed


ROUTES = (
    ("GET", "jpm", "jobs", list_jobs),
    ("GET", "jpm", "jobs/{id}", get_job),
    ("GET", "jpm", "export/jobs", export_jobs),
)
