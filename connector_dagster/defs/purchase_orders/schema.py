"""F1's pandera schema of the purchase orders read from IFS, run as a blocking check.

The check guards the shape of what was read (columns, keys, states, lines
belonging to a header). Values of single records (a missing part, a negative
price) are not the check's business: those records are parked one by one by
the write step, so one bad PO never blocks the period.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pandas as pd
import pandera.pandas as pa

from connector_dagster.defs.purchase_orders.settings import IFS_PO_STATES
from connector_dagster.engine.bounds import Amounts
from connector_dagster.engine.frames import shape_problems
from connector_dagster.lib.numbers import number

HEADERS = pa.DataFrameSchema(
    {
        "OrderNo": pa.Column(str, unique=True, nullable=False, checks=pa.Check.str_length(1, 50)),
        "VendorNo": pa.Column(str, nullable=True),
        "OrderDate": pa.Column(str, pa.Check.str_matches(r"^\d{4}-\d{2}-\d{2}")),
        "Objstate": pa.Column(str, pa.Check.isin(IFS_PO_STATES)),
        "Contract": pa.Column(str, nullable=True),
        "CurrencyCode": pa.Column(str, nullable=True),
        "WantedReceiptDate": pa.Column(str, nullable=True),
        "TaxCode": pa.Column(str, nullable=True),
        "Company": pa.Column(str, nullable=True),
        "st_reference": pa.Column(str, nullable=True),
        "etag": pa.Column(str, pa.Check.str_startswith('W/"')),
    },
    strict=True,
    coerce=False,
)

LINES = pa.DataFrameSchema(
    {
        "OrderNo": pa.Column(str, nullable=False),
        "LineNo": pa.Column(object, nullable=False),
        "ReleaseNo": pa.Column(object, nullable=False),
        "PartNo": pa.Column(str, nullable=True),
        "Description": pa.Column(str, nullable=True),
        "BuyQtyDue": pa.Column(object, nullable=True),
        "BuyUnitMeas": pa.Column(str, nullable=True),
        "BuyUnitPrice": pa.Column(object, nullable=True),
        "TaxCode": pa.Column(str, nullable=True),
        "Objstate": pa.Column(str, nullable=True),
        "etag": pa.Column(str, pa.Check.str_startswith('W/"')),
    },
    strict=True,
    coerce=False,
    unique=["OrderNo", "LineNo", "ReleaseNo"],
)


def validate(frames: dict[str, pd.DataFrame]) -> list[str]:
    """Problems with the shape of a period's read; empty when it may be written."""
    problems = shape_problems(frames, {"headers": HEADERS, "lines": LINES})
    if not problems:
        orphans = set(frames["lines"]["OrderNo"]) - set(frames["headers"]["OrderNo"])
        if orphans:
            problems.append(
                f"lines: {len(orphans)} line(s) of orders not read: {sorted(orphans)[:5]}"
            )
    return problems


def po_total(payload: Mapping[str, Any]) -> Decimal:
    """A ServiceTitan PO payload's total: its items, tax and shipping."""
    items = sum((number(i["quantity"]) * number(i["cost"]) for i in payload["items"]), Decimal(0))
    return items + number(payload["tax"]) + number(payload["shipping"])


AMOUNTS = Amounts(
    amounts={
        "items[].cost": "item {n} ({vendorPartNumber}) cost (IFS BuyUnitPrice)",
        "tax": "tax",
        "shipping": "shipping",
    },
    quantities={"items[].quantity": "item {n} ({vendorPartNumber}) quantity (IFS BuyQtyDue)"},
    total=po_total,
    total_label="total of items, tax and shipping",
)
"""The amounts and quantities of F1's payload (a ServiceTitan PO), bounded by the engine."""
