"""ServiceTitan reference lists, read-only here: vendors, PO types and warehouses
(inventory) and tax zones (accounting), and the small render helpers the other
resources share (`stamped`, `named`). GL accounts are `gl_accounts`."""

from __future__ import annotations

from connector_dagster.sandbox.servicetitan.common import Row, fmt_ts, not_found
from connector_dagster.sandbox.servicetitan.query import (
    STANDARD_DATES,
    STANDARD_SORTS,
    F,
    page,
    select,
    sort_rows,
)
from connector_dagster.sandbox.servicetitan.store import Call, Store

_SORTS = STANDARD_SORTS
_DATES = STANDARD_DATES
_ACTIVE = F("active", "active", lambda r: r["active"])


def stamped(row: Row) -> Row:
    """A reference row as stored, with its timestamps formatted."""
    out = {k: v for k, v in row.items() if k != "_v"}
    out["createdOn"] = fmt_ts(row["createdOn"])
    out["modifiedOn"] = fmt_ts(row["modifiedOn"])
    return out


def list_vendors(c: Call) -> Row:
    rows = select(c.store.tables["vendors"], c.q, (*_DATES, _ACTIVE))
    return page(sort_rows(rows, c.q, _SORTS), c.q, stamped, c.page_max)


def get_vendor(c: Call) -> Row:
    vendor_id = c.path_int("id", "Vendor")
    vendor = c.store.tables["vendors"].get(vendor_id)
    if vendor is None:
        raise not_found(f"Vendor {vendor_id}")
    return stamped(vendor)


def list_po_types(c: Call) -> Row:
    rows = select(c.store.tables["purchase-order-types"], c.q, (*_DATES, _ACTIVE))
    return page(sort_rows(rows, c.q, _SORTS), c.q, stamped, c.page_max)


def list_warehouses(c: Call) -> Row:
    rows = select(c.store.tables["warehouses"], c.q, (*_DATES, _ACTIVE))
    return page(sort_rows(rows, c.q, _SORTS), c.q, stamped, c.page_max)


def named(store: Store, table: str, key: int | None) -> Row | None:
    """`{id, name}` of a row, or None."""
    if key is None:
        return None
    row = store.tables[table].get(key)
    return {"id": key, "name": row["name"] if row else None}


def list_tax_zones(c: Call) -> Row:
    rows = select(c.store.tables["tax-zones"], c.q, (*_DATES, _ACTIVE))
    return page(sort_rows(rows, c.q, _SORTS), c.q, stamped, c.page_max)


ROUTES = (
    ("GET", "inventory", "vendors", list_vendors),
    ("GET", "inventory", "vendors/{id}", get_vendor),
    ("GET", "inventory", "purchase-order-types", list_po_types),
    ("GET", "inventory", "warehouses", list_warehouses),
    ("GET", "accounting", "tax-zones", list_tax_zones),
)
