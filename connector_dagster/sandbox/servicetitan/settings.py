"""ServiceTitan settings API (`/settings/v2/tenant/{tenant}/…`): business units
and their export feed."""

from __future__ import annotations

from connector_dagster.sandbox.servicetitan.common import Row, fmt_ts, not_found
from connector_dagster.sandbox.servicetitan.query import F, page, select
from connector_dagster.sandbox.servicetitan.references import stamped
from connector_dagster.sandbox.servicetitan.store import Call, export


def render_business_unit(row: Row) -> Row:
    out = stamped(row)
    out["tenant"] = {**row["tenant"], "modifiedOn": fmt_ts(row["tenant"]["modifiedOn"])}
    return out


def list_business_units(c: Call) -> Row:
    filters = (
        F("createdOnOrAfter", "since", lambda r: r["createdOn"]),
        F("createdBefore", "before", lambda r: r["createdOn"]),
        F("modifiedOnOrAfter", "since", lambda r: r["modifiedOn"]),
        F("modifiedBefore", "before", lambda r: r["modifiedOn"]),
        F("name", "contains", lambda r: r["name"]),
        F("active", "active", lambda r: r["active"]),
    )
    rows = select(c.store.tables["business-units"], c.q, filters)
    return page(rows, c.q, render_business_unit, c.page_max)


def get_business_unit(c: Call) -> Row:
    unit_id = c.path_int("id", "Business unit")
    unit = c.store.tables["business-units"].get(unit_id)
    if unit is None:
        raise not_found(f"Business unit {unit_id}")
    return render_business_unit(unit)


def export_business_units(c: Call) -> Row:
    feed = export(c.store, "business-units", c.q, c.page_max)
    feed["data"] = [render_business_unit(row) for row in feed["data"]]
    return feed


ROUTES = (
    ("GET", "settings", "business-units", list_business_units),
    ("GET", "settings", "business-units/{id}", get_business_unit),
    ("GET", "settings", "export/business-units", export_business_units),
)
