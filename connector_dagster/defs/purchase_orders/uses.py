"""What F1 uses of IFS and ServiceTitan, for `connector-dagster check`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connector_dagster.defs.purchase_orders.source import HEADER_FIELDS, LINE_FIELDS
from connector_dagster.kits.purchase_orders.uses import HISTORY, ST_PURCHASE_ORDERS
from connector_dagster.lib.numbers import decimal_or_none
from connector_dagster.onboarding.ifs import EntitySet
from connector_dagster.onboarding.servicetitan import Resource

USES = (
    EntitySet(
        "headers_set",
        reads=tuple(HEADER_FIELDS),
        field_settings=("servicetitan_reference_field",),
    ),
    EntitySet("lines_set", reads=tuple(LINE_FIELDS)),
    HISTORY,
    ST_PURCHASE_ORDERS,
    Resource("inventory", "vendors"),
    Resource("pricebook", "materials"),
    Resource("pricebook", "equipment"),
)


def AMOUNT(data: dict[str, Any]) -> Decimal:
    """A PO's amount: its lines' quantity times unit price."""
    return sum(
        (
            (decimal_or_none(line.get("BuyQtyDue")) or 0)
            * (decimal_or_none(line.get("BuyUnitPrice")) or 0)
            for line in data["lines"]
        ),
        Decimal(0),
    )
