"""ServiceTitan pricebook API (`/pricebook/v2/tenant/{tenant}/…`), read-only here:
materials and equipment, the SKUs a purchase-order item may name (active only by
default, `active=Any` for all)."""

from __future__ import annotations

from collections.abc import Callable

from connector_dagster.sandbox.servicetitan.common import Row, cents
from connector_dagster.sandbox.servicetitan.query import F, page, select
from connector_dagster.sandbox.servicetitan.store import Call

_ACTIVE = F("active", "active", lambda r: r["active"])


def _render(row: Row) -> Row:
    return {
        "id": row["id"],
        "code": row["code"],
        "displayName": row["name"],
        "description": row["name"],
        "cost": float(cents(row["cost"])),
        "price": float(cents(row["price"])),
        "active": row["active"],
    }


def _lister(kind: str) -> Callable[[Call], Row]:
    def handler(c: Call) -> Row:
        skus = {k: r for k, r in c.store.tables["skus"].items() if r["type"] == kind}
        return page(select(skus, c.q, (_ACTIVE,)), c.q, _render, c.page_max)

    return handler


ROUTES = (
    ("GET", "pricebook", "materials", _lister("Material")),
    ("GET", "pricebook", "equipment", _lister("Equipment")),
)
