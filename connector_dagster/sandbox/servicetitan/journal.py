"""ServiceTitan accounting API, journal entries: list, get, create (marked
External), full update with optimistic `versionId`, delete, status and sync
updates, and the summary and details views of the lines.

The spec documents only 200 and 400 for these operations, so an unknown id is a
400 here, not a 404."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from connector_dagster.sandbox.servicetitan.body import require_valid
from connector_dagster.sandbox.servicetitan.common import (
    Row,
    bad_request,
    fmt_date,
    now_us,
    num,
    parse_us,
)
from connector_dagster.sandbox.servicetitan.journal_model import (
    POSTING_STATUSES,
    SAVE,
    SYNC,
    SYNC_STATUSES,
    UPDATE,
    account_ref,
    bump,
    checked_lines,
    guid,
    merge_custom_fields,
    render_detail,
    render_je,
)
from connector_dagster.sandbox.servicetitan.query import F, page, q_enum, select, sort_rows
from connector_dagster.sandbox.servicetitan.references import named
from connector_dagster.sandbox.servicetitan.store import NO_CONTENT, Call

JE_PAGE_MAX = 500
_SORTS = {
    "Id": lambda r: r["id"],
    "Number": lambda r: r["number"],
    "Name": lambda r: r["name"] or "",
    "Status": lambda r: r["status"],
    "CreatedOn": lambda r: r["createdOn"],
    "ExportedOn": lambda r: r["exportedOn"] or 0,
    "ExportedBy": lambda r: (r["exportedBy"] or {}).get("name") or "",
    "PostDate": lambda r: r["postDate"] or 0,
}


def _je(c: Call) -> Row:
    raw = c.path["id"]
    try:
        je = c.store.tables["journal-entries"].get(guid(raw))
    except ValueError:
        je = None
    if je is None:
        raise bad_request("id", f"Journal entry {raw} was not found.", "Journal entry not found.")
    return je


def _save(c: Call, je: Row, body: dict[str, Any]) -> None:
    je["lines"] = checked_lines(c, body)
    je["name"] = body.get("name")
    je["status"] = body["status"]
    je["message"] = body.get("message")
    je["postDate"] = parse_us(body["postDate"]) if body.get("postDate") else je["postDate"]
    merge_custom_fields(je, body.get("customFields"))


def list_jes(c: Call) -> Row:
    filters = (
        F("createdOnOrAfter", "since", lambda r: r["createdOn"]),
        F("createdBefore", "before", lambda r: r["createdOn"]),
        F("modifiedOnOrAfter", "since", lambda r: r["modifiedOn"]),
        F("modifiedBefore", "before", lambda r: r["modifiedOn"]),
        F("exportedFrom", "since", lambda r: r["exportedOn"]),
        F("exportedTo", "until", lambda r: r["exportedOn"]),
        F("postedFrom", "since", lambda r: r["postDate"]),
        F("postedTo", "until", lambda r: r["postDate"]),
        F("name", "contains", lambda r: r["name"]),
        F("numberFrom", "dec>=", lambda r: r["number"]),
        F("numberTo", "dec<=", lambda r: r["number"]),
        F("statuses", "enum", lambda r: r["status"], POSTING_STATUSES),
        F("syncStatuses", "enum", lambda r: r["syncStatus"], SYNC_STATUSES),
    )
    rows = select(c.store.tables["journal-entries"], c.q, filters, parse=guid)
    units = {int(v) for v in c.q.get("businessUnitIds", "").split(",") if v.strip().isdigit()}
    if units:
        rows = [r for r in rows if any(ln.get("businessUnitId") in units for ln in r["lines"])]
    for key, value in c.q.items():
        if key.startswith("customField."):
            name = key.removeprefix("customField.")
            rows = [r for r in rows if r["customFields"].get(name) == value]
    empty = (q_enum(c.q, "empty", ("IncludeExceptNotSynced", "Include", "Exclude")) or ["Include"])[
        0
    ]
    if not c.q.get("ids") and empty != "Include":
        rows = [
            r
            for r in rows
            if r["lines"] or (empty == "IncludeExceptNotSynced" and r["syncStatus"] != "NotSynced")
        ]
    rows = sort_rows(rows, c.q, _SORTS)
    return page(rows, c.q, render_je, min(JE_PAGE_MAX, c.page_max))


def get_je(c: Call) -> Row:
    return render_je(_je(c))


def create_je(c: Call) -> object:
    body = require_valid(c.body, SAVE)
    now = now_us()
    c.store.counters["je-number"] += 1
    je: Row = {
        "id": str(uuid.uuid4()),
        "number": c.store.counters["je-number"],
        "source": "External",
        "syncStatus": "NotSynced",
        "versionId": 1,
        "lastSyncVersionId": None,
        "postDate": now,
        "exportedOn": None,
        "exportedBy": None,
        "customFields": {},
        "createdOn": now,
    }
    _save(c, je, body)
    c.store.touch("journal-entries", je)
    return NO_CONTENT


def _external(je: Row, action: str) -> None:
    if je["source"] != "External":
        raise bad_request(
            "id",
            f"Only external journal entries can be {action}.",
            f"Journal entry is {je['source']}.",
        )


def replace_je(c: Call) -> object:
    je = _je(c)
    body = require_valid(c.body, SAVE)
    _external(je, "updated")
    if body["versionId"] != je["versionId"]:
        raise bad_request(
            "versionId",
            f"The current version is {je['versionId']}, not {body['versionId']}.",
            "Journal entry was changed by someone else; re-read it and retry.",
        )
    _save(c, je, body)
    bump(c.store, je)
    return NO_CONTENT


def delete_je(c: Call) -> object:
    je = _je(c)
    _external(je, "deleted")
    del c.store.tables["journal-entries"][je["id"]]
    return NO_CONTENT


def update_je(c: Call) -> Row:
    je = _je(c)
    body = require_valid(c.body, UPDATE)
    if "status" in body:
        je["status"] = body["status"]
    merge_custom_fields(je, body.get("customFields"))
    c.store.touch("journal-entries", je)
    return render_je(je)


def sync_je(c: Call) -> Row:
    je = _je(c)
    body = require_valid(c.body, SYNC)
    if body["syncStatus"] == "Synced":
        if body.get("versionId") != je["versionId"]:
            raise bad_request(
                "versionId",
                f"Synced must name the current version {je['versionId']}.",
                "The journal entry changed since the version that was synced.",
            )
        je["lastSyncVersionId"] = je["versionId"]
        je["exportedOn"] = now_us()
        je["exportedBy"] = {"id": 1, "name": "Public API"}
    je["syncStatus"] = body["syncStatus"]
    je["message"] = body.get("message", je["message"])
    merge_custom_fields(je, body.get("customFields"))
    c.store.touch("journal-entries", je)
    return render_je(je)


def _lines_page(c: Call, rows: list[Row]) -> Row:
    return page(rows, c.q, lambda r: r, min(JE_PAGE_MAX, c.page_max))


def je_details(c: Call) -> Row:
    je = _je(c)
    return _lines_page(c, [render_detail(je, line, c.store) for line in je["lines"]])


def je_summary(c: Call) -> Row:
    je = _je(c)
    sums: dict[tuple[Any, Any], list[Decimal]] = {}
    for line in je["lines"]:
        total = sums.setdefault((line["accountId"], line.get("businessUnitId")), [Decimal(0)] * 2)
        total[0] += line["debit"]
        total[1] += line["credit"]
    rows = [
        {
            "postDate": fmt_date(je["postDate"]),
            "account": account_ref(c.store, account),
            "credit": num(credit),
            "debit": num(debit),
            "memo": None,
            "businessUnit": named(c.store, "business-units", bu),
        }
        for (account, bu), (debit, credit) in sums.items()
    ]
    return _lines_page(c, rows)


ROUTES = (
    ("GET", "accounting", "journal-entries", list_jes),
    ("POST", "accounting", "journal-entries", create_je),
    ("GET", "accounting", "journal-entries/{id}", get_je),
    ("PUT", "accounting", "journal-entries/{id}", replace_je),
    ("PATCH", "accounting", "journal-entries/{id}", update_je),
    ("DELETE", "accounting", "journal-entries/{id}", delete_je),
    ("PATCH", "accounting", "journal-entries/{id}/sync", sync_je),
    ("GET", "accounting", "journal-entries/{id}/summary", je_summary),
    ("GET", "accounting", "journal-entries/{id}/details", je_details),
)
