"""ServiceTitan pricebook (`/pricebook/v2/tenant/{tenant}/…`), read-only here: the
material and equipment SKUs, as `mappings suggest` reads them [I: the fields are
those of ServiceTitan's pricebook API as peers use it, not checked against a tenant]."""

from __future__ import annotations

from collections.abc import Callable

from connector_dagster.sandbox.servicetitan.common import Row
from connector_dagster.sandbox.servicetitan.query import F, page, select
from connector_dagster.sandbox.servicetitan.refdata import CREATED, MODIFIED
from connector_dagster.sandbox.servicetitan.references import stamped
from connector_dagster.sandbox.servicetitan.store import Call

_ACTIVE = F("active", "active", lambda r: r["active"])


def _render(row: Row) -> Row:
    return stamped(
        {
            "id": row["id"],
            "code": row["code"],
            "displayName": row["name"],
            "description": row["name"],
            "cost": float(row["cost"]),
            "price": float(row["price"]),
            "active": row["active"],
            "createdOn": CREATED,
            "modifiedOn": MODIFIED,
        }
    )


def _of_type(kind: str) -> Callable[[Call], Row]:
    def handler(c: Call) -> Row:
        rows = [r for r in select(c.store.tables["skus"], c.q, (_ACTIVE,)) if r["type"] == kind]
        return page(rows, c.q, _render, c.page_max)

    return handler


ROUTES = (
    ("GET", "pricebook", "materials", _of_type("Material")),
    ("GET", "pricebook", "equipment", _of_type("Equipment")),
)
