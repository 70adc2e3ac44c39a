"""F4's pandera schemas of the bills read from ServiceTitan, run as checks (helpers
from the posting kit's `schema`).

`validate` (blocking) guards the shape: columns, keys, dates, lines that belong to a
read bill, one period. `validate_records` (a warning, not blocking) checks each bill:
it has lines, they add up to its bill amount, its date lies in the period, its
business unit and accounts are named. A bill that fails is parked on its own.
"""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pandera.pandas as pa

from connector_dagster.engine.frames import clean, shape_problems
from connector_dagster.kits.postings.schema import (
    DATE,
    GL_ACCOUNT,
    PERIOD,
    POSTING_AMOUNTS,
    ROUTING,
    by_document,
    column,
    document_problems,
    in_period,
    money,
    orphans,
)

BILLS = pa.DataFrameSchema(
    {
        "key": column(str, False, pa.Check.str_matches(r"^(ap|inventory)-\d+$")),
        "kind": column(str, False, pa.Check.isin(["ap", "inventory"])),
        "id": column(int),
        "billDate": column(str, True, pa.Check.str_matches(DATE)),
        "syncStatus": column(str),
        "status": column(str, True),
        **ROUTING,
        "vendorName": column(str, True),
        "vendorNumber": column(str, True),
        "referenceNumber": column(str, True),
        "summary": column(str, True),
        "billAmount": column(str, True),
        "taxAmount": column(str, True),
        "shippingAmount": column(str, True),
        "purchaseOrderId": column(int, True),
        "jobId": column(int, True),
        "modifiedOn": column(str),
    },
    strict=True,
    unique=["key"],
)
LINES = pa.DataFrameSchema(
    {
        "billKey": column(str),
        "line": column(str, False, pa.Check.isin(["item", "expense"])),
        "id": column(int),
        "order": column(int, True),
        "description": column(str, True),
        "quantity": column(str, True),
        "cost": column(str, True),
        "amount": column(str, True),
        **GL_ACCOUNT,
    },
    strict=True,
    unique=["billKey", "line", "id"],
)


def validate(frames: dict[str, pd.DataFrame]) -> list[str]:
    """Problems with the shape of a period's bills; empty when they may be written."""
    problems = shape_problems(frames, {"bills": BILLS, "lines": LINES, "period": PERIOD})
    if not problems:
        problems += orphans(frames["lines"], frames["bills"], "billKey", "lines", "key")
    return problems


def _line_amount(row: pd.Series) -> Decimal | None:
    if row["line"] == "expense":
        return money(row["amount"])
    quantity, cost = money(row["quantity"]), money(row["cost"])
    return None if quantity is None or cost is None else quantity * cost


def validate_records(frames: dict[str, pd.DataFrame]) -> list[str]:
    """Bills that cannot post as they are, one line each per failed check (they are
    parked by the write step; the others are written)."""
    heads, lines = clean(frames["bills"]), clean(frames["lines"])
    if heads.empty:
        return []
    amounts = lines.assign(value=lines.apply(_line_amount, axis=1) if not lines.empty else [])
    sums, accounts = by_document(amounts, "billKey", "value")
    docs = pd.DataFrame(
        {
            "key": heads["key"],
            "lines": heads["key"].map(lambda k: k in sums.index),
            "sum": heads["key"].map(lambda k: sums.get(k)),
            "billed": heads["billAmount"].map(money),
            "dated": in_period(heads["billDate"], frames["period"]),
            "unit": heads["businessUnitId"].notna(),
            "accounts": heads["key"].map(lambda k: bool(accounts.get(k, True))),
        }
    ).reset_index(drop=True)
    return document_problems(
        docs,
        {
            "has_lines": lambda d: d["lines"],
            "lines_add_up_to_bill_amount": lambda d: ~d["lines"] | (d["sum"] == d["billed"]),
            "bill_date_in_period": lambda d: d["dated"],
            "business_unit_named": lambda d: d["unit"],
            "lines_name_gl_accounts": lambda d: d["accounts"],
        },
        "bill",
    )


AMOUNTS = POSTING_AMOUNTS
"""The amounts of F4's payload (an IFS posting set, as F3's), bounded by the engine."""
