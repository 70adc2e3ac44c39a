"""The ServiceTitan simulator's journal-entry list, `GET journal-entries`: the
spec's filters (dates, name, numbers, statuses, business units, service
agreements, vendor, customer and inventory-location names, exporters, custom
fields, empty entries), `sort`, and pages of at most 500.

Not served (ignored when given): `locationName`, `refNumber`,
`transactionTypes` and `transactionPostedFrom/To`, which match source
transactions the simulator does not keep per entry."""

from __future__ import annotations

from collections.abc import Callable

from connector_dagster.sandbox.servicetitan.common import Row, bad_request
from connector_dagster.sandbox.servicetitan.journal_model import (
    MAX_CUSTOM_FIELDS,
    POSTING_STATUSES,
    SYNC_STATUSES,
    guid,
    render_je,
)
from connector_dagster.sandbox.servicetitan.query import (
    F,
    page,
    q_enum,
    q_ids,
    select,
    sort_rows,
)
from connector_dagster.sandbox.servicetitan.store import Call

JE_PAGE_MAX = 500
NAME_MAX = 255
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
_FILTERS = (
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
    F("exportedBy", "in", lambda r: (r["exportedBy"] or {}).get("id")),
    F("statuses", "enum", lambda r: r["status"], POSTING_STATUSES),
    F("syncStatuses", "enum", lambda r: r["syncStatus"], SYNC_STATUSES),
)
# (parameter, line field) of the comma-separated id filters matched on lines.
_LINE_IDS = (("businessUnitIds", "businessUnitId"), ("serviceAgreementIds", "serviceAgreementId"))
# (parameter, line field, table) of the "name contains" filters matched on lines.
_LINE_NAMES = (
    ("vendorName", "vendorId", "vendors"),
    ("customerName", "customerId", "customers"),
    ("inventoryLocationName", "inventoryLocationId", "warehouses"),
)
_EMPTY = ("IncludeExceptNotSynced", "Include", "Exclude")


def _with_line(rows: list[Row], match: Callable[[Row], bool]) -> list[Row]:
    return [r for r in rows if any(match(line) for line in r["lines"])]


def _custom_fields(c: Call) -> dict[str, str]:
    wanted = {
        key.removeprefix("customField."): value
        for key, value in c.q.items()
        if key.startswith("customField.")
    }
    if len(wanted) > MAX_CUSTOM_FIELDS:
        raise bad_request(
            "customField",
            f"At most {MAX_CUSTOM_FIELDS} custom fields can be filtered on, got {len(wanted)}.",
        )
    return wanted


def list_jes(c: Call) -> Row:
    for name in ("name", *(p for p, _, _ in _LINE_NAMES)):
        if len(c.q.get(name) or "") > NAME_MAX:
            raise bad_request(name, f"At most {NAME_MAX} characters.")
    rows = select(c.store.tables["journal-entries"], c.q, _FILTERS, parse=guid)
    for param, field in _LINE_IDS:
        ids = q_ids(c.q, param)
        if ids is not None:
            rows = _with_line(rows, lambda ln, f=field, ids=set(ids): ln.get(f) in ids)
    for param, field, table in _LINE_NAMES:
        text = (c.q.get(param) or "").lower()
        if text:
            names = c.store.tables[table]
            rows = _with_line(
                rows,
                lambda ln, f=field, t=text, n=names: (
                    ln.get(f) in n and t in (n[ln[f]]["name"] or "").lower()
                ),
            )
    for name, value in _custom_fields(c).items():
        rows = [r for r in rows if r["customFields"].get(name) == value]
    empty = (q_enum(c.q, "empty", _EMPTY) or ["Include"])[0]
    if not c.q.get("ids") and empty != "Include":
        rows = [
            r
            for r in rows
            if r["lines"] or (empty == "IncludeExceptNotSynced" and r["syncStatus"] != "NotSynced")
        ]
    rows = sort_rows(rows, c.q, _SORTS)
    return page(rows, c.q, render_je, min(JE_PAGE_MAX, c.page_max))
