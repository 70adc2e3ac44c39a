"""ServiceTitan accounting API, journal entries: get, create (marked External),
full update with optimistic `versionId`, delete, status and sync updates, and
the summary and details views of the lines. The list is `journal_query`; what
may be changed when is `journal_rules`.

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
    SAVE,
    SYNC,
    UPDATE,
    account_ref,
    bump,
    checked_lines,
    guid,
    merge_custom_fields,
    render_detail,
    render_je,
)
from connector_dagster.sandbox.servicetitan.journal_query import JE_PAGE_MAX, list_jes
from connector_dagster.sandbox.servicetitan.journal_rules import (
    VERSION_CONFLICT,
    body_dates,
    ensure_changeable,
    ensure_open,
    ensure_version,
    entry_dates,
)
from connector_dagster.sandbox.servicetitan.query import page
from connector_dagster.sandbox.servicetitan.references import named
from connector_dagster.sandbox.servicetitan.store import NO_CONTENT, Call


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


def get_je(c: Call) -> Row:
    return render_je(_je(c))


def create_je(c: Call) -> object:
    body = require_valid(c.body, SAVE)
    now = now_us()
    checked_lines(c, body)
    ensure_open(body_dates(body, now), c.closed_periods, None)
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


def replace_je(c: Call) -> object:
    je = _je(c)
    body = require_valid(c.body, SAVE)
    ensure_changeable(je, "updated")
    ensure_version(je, body["versionId"])
    checked_lines(c, body)
    ensure_open(entry_dates(je), c.closed_periods, je["number"])
    ensure_open(body_dates(body, je["postDate"]), c.closed_periods, je["number"])
    _save(c, je, body)
    bump(c.store, je)
    return NO_CONTENT


def delete_je(c: Call) -> object:
    je = _je(c)
    ensure_changeable(je, "deleted")
    ensure_open(entry_dates(je), c.closed_periods, je["number"])
    del c.store.tables["journal-entries"][je["id"]]
    return NO_CONTENT


def update_je(c: Call) -> Row:
    je = _je(c)
    body = require_valid(c.body, UPDATE)
    if "status" in body and body["status"] != je["status"]:
        ensure_open(entry_dates(je), c.closed_periods, je["number"])
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
                data={"code": VERSION_CONFLICT, "currentVersionId": je["versionId"]},
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
