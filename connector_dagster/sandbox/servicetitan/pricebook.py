"""ServiceTitan pricebook API (`/pricebook/v2/tenant/{tenant}/…`), read-only here:
materials and equipment, the SKUs a purchase-order item may name (active only by
default, `active=Any` for all), with the fields the pricebook spec requires."""

from __future__ import annotations

from collections.abc import Callable

from connector_dagster.sandbox.servicetitan.common import Row, cents, fmt_ts
from connector_dagster.sandbox.servicetitan.query import F, page, select
from connector_dagster.sandbox.servicetitan.refdata import CREATED, MODIFIED
from connector_dagster.sandbox.servicetitan.store import Call

_ACTIVE = F("active", "active", lambda r: r["active"])
_NO_WARRANTY = {"duration": 0, "description": None}


def _render(row: Row) -> Row:
    price = float(cents(row["price"]))
    common = {
        "id": row["id"],
        "code": row["code"],
        "displayName": row["name"],
        "description": row["name"],
        "cost": float(cents(row["cost"])),
        "active": row["active"],
        "price": price,
        "memberPrice": price,
        "addOnPrice": price,
        "addOnMemberPrice": price,
        "hours": 0,
        "bonus": 0,
        "commissionBonus": 0,
        "paysCommission": False,
        "isInventory": True,
        "categories": [],
        "assets": [],
        "displayInAmount": True,
        "createdOn": fmt_ts(CREATED),
        "modifiedOn": fmt_ts(row.get("modifiedOn", MODIFIED)),
    }
    if row["type"] == "Material":
        return {
            **common, "deductAsJobCost": False, "isConfigurableMaterial": False,
            "chargeableByDefault": True, "createdById": 1, "isOtherDirectCost": False,
        }  # fmt: skip
    return {
        **common, "manufacturerWarranty": _NO_WARRANTY, "serviceProviderWarranty": _NO_WARRANTY,
        "recommendations": [], "upgrades": [], "equipmentMaterials": [], "taxable": True,
        "isConfigurableEquipment": False,
    }  # fmt: skip


def _lister(kind: str) -> Callable[[Call], Row]:
    def handler(c: Call) -> Row:
        skus = {k: r for k, r in c.store.tables["skus"].items() if r["type"] == kind}
        return page(select(skus, c.q, (_ACTIVE,)), c.q, _render, c.page_max)

    return handler


ROUTES = (
    ("GET", "pricebook", "materials", _lister("Material")),
    ("GET", "pricebook", "equipment", _lister("Equipment")),
)
