"""F5's pandera schema of the purchase orders read from ServiceTitan, run as a
blocking check: the shape of the read (columns, ids, statuses, items belonging to a
PO). Values of single POs (an unmapped vendor, no items) are the write step's
business: it parks those POs one by one."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pandas as pd
import pandera.pandas as pa

from connector_dagster.defs.st_purchase_orders.settings import ST_PO_STATUSES
from connector_dagster.engine.bounds import Amounts
from connector_dagster.engine.frames import shape_problems
from connector_dagster.lib.numbers import number

_DAY = r"^\d{4}-\d{2}-\d{2}"


def _ids(*, unique: bool = False, nullable: bool = True) -> pa.Column:
    """A column of integer ids (JSON integers, kept as Python ints in an object column)."""
    integer = pa.Check(
        lambda v: isinstance(v, int) and not isinstance(v, bool), element_wise=True, name="int"
    )
    return pa.Column(object, checks=integer, unique=unique, nullable=nullable)


PURCHASE_ORDERS = pa.DataFrameSchema(
    {
        "id": _ids(unique=True, nullable=False),
        "number": pa.Column(
            str, unique=True, nullable=False, checks=pa.Check.str_length(min_value=1)
        ),
        "status": pa.Column(str, pa.Check.isin(ST_PO_STATUSES)),
        "vendorId": _ids(nullable=True),
        "businessUnitId": _ids(nullable=True),
        "inventoryLocationId": _ids(nullable=True),
        "typeId": _ids(nullable=True),
        "jobId": _ids(nullable=True),
        "date": pa.Column(str, pa.Check.str_matches(_DAY)),
        "requiredOn": pa.Column(str, pa.Check.str_matches(_DAY), nullable=True),
        "tax": pa.Column(object, nullable=True),
        "shipping": pa.Column(object, nullable=True),
        "total": pa.Column(object, nullable=True),
        "summary": pa.Column(str, nullable=True),
        "modifiedOn": pa.Column(str, nullable=False),
    },
    strict=True,
    coerce=False,
)

ITEMS = pa.DataFrameSchema(
    {
        "purchaseOrderId": _ids(nullable=False),
        "id": _ids(unique=True, nullable=False),
        "skuId": _ids(nullable=True),
        "description": pa.Column(str, nullable=True),
        "vendorPartNumber": pa.Column(str, nullable=True),
        "quantity": pa.Column(object, nullable=True),
        "cost": pa.Column(object, nullable=True),
        "status": pa.Column(str, nullable=True),
    },
    strict=True,
    coerce=False,
)


def validate(frames: dict[str, pd.DataFrame]) -> list[str]:
    """Problems with the shape of a period's read; empty when it may be written."""
    problems = shape_problems(frames, {"purchase_orders": PURCHASE_ORDERS, "items": ITEMS})
    if not problems:
        orphans = set(frames["items"]["purchaseOrderId"]) - set(frames["purchase_orders"]["id"])
        if orphans:
            problems.append(f"items: {len(orphans)} item(s) of POs not read: {sorted(orphans)[:5]}")
    return problems


def po_total(payload: Mapping[str, Any]) -> Decimal:
    """An IFS PO payload's total: its lines' quantity times unit price."""
    return sum(
        (number(ln["BuyQtyDue"]) * number(ln["BuyUnitPrice"]) for ln in payload["lines"]),
        Decimal(0),
    )


AMOUNTS = Amounts(
    amounts={"lines[].BuyUnitPrice": "item {n} ({PartNo}) cost (IFS BuyUnitPrice)"},
    quantities={"lines[].BuyQtyDue": "item {n} ({PartNo}) quantity (IFS BuyQtyDue)"},
    total=po_total,
    total_label="total of items",
)
"""The amounts and quantities of F5's payload (an IFS PO), bounded by the engine."""
