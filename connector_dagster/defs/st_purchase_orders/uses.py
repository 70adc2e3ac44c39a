"""What F5 uses of ServiceTitan and IFS, for `connector-dagster check`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connector_dagster.kits.purchase_orders.uses import ST_PURCHASE_ORDERS
from connector_dagster.lib.numbers import decimal_or_none
from connector_dagster.onboarding.ifs import EntitySet
from connector_dagster.onboarding.servicetitan import Resource

USES = (
    ST_PURCHASE_ORDERS,
    Resource("inventory", "export/purchase-orders"),
    EntitySet(
        "headers_set",
        reads=("OrderNo", "Objstate"),
        writes=(
            "OrderNo",
            "VendorNo",
            "Contract",
            "OrderDate",
            "WantedReceiptDate",
            "CurrencyCode",
            "TaxCode",
            "NoteText",
            "Company",
        ),
        field_settings=("reference_field",),
    ),
    EntitySet(
        "lines_set",
        writes=(
            "OrderNo",
            "PartNo",
            "Description",
            "BuyQtyDue",
            "BuyUnitPrice",
            "WantedDeliveryDate",
        ),
    ),
)


def AMOUNT(data: dict[str, Any]) -> Decimal | None:
    """A PO's amount: its total."""
    return decimal_or_none(data["purchase_order"].get("total"))
