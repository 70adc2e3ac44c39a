"""F3's pandera schemas of the invoices and jobs read from ServiceTitan, run as checks
(helpers from the posting kit's `schema`).

The shape checks (blocking) guard what was read: columns, ids, dates, items that
belong to a read invoice, one period. `DOCUMENTS` (a warning, not blocking) checks
each invoice: it has items, its items add up to its subtotal and that plus tax to its
total, its date lies in the period, its business unit and accounts are named. An
invoice that fails is parked on its own by the write step.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from connector_dagster.engine.frames import clean, shape_problems
from connector_dagster.kits.postings.schema import (
    DATE,
    GL_ACCOUNT,
    PERIOD,
    ROUTING,
    by_document,
    column,
    document_problems,
    in_period,
    money,
    orphans,
)

INVOICES = pa.DataFrameSchema(
    {
        "id": column(int),
        "number": column(str, True),
        "invoiceDate": column(str, True, pa.Check.str_matches(DATE)),
        "syncStatus": column(str),
        "active": column(bool),
        "exportId": column(str, True),
        **ROUTING,
        "customerName": column(str, True),
        "summary": column(str, True),
        "subTotal": column(str, True),
        "salesTax": column(str, True),
        "total": column(str, True),
        "jobId": column(int, True),
        "adjustmentToId": column(int, True),
        "modifiedOn": column(str),
    },
    strict=True,
    unique=["id"],
)
ITEMS = pa.DataFrameSchema(
    {
        "invoiceId": column(int),
        "id": column(int),
        "order": column(int, True),
        "skuName": column(str, True),
        "description": column(str, True),
        "type": column(str, True),
        "quantity": column(str, True),
        "price": column(str, True),
        "total": column(str, True),
        **GL_ACCOUNT,
    },
    strict=True,
    unique=["id"],
)
JOBS = pa.DataFrameSchema(
    {
        "id": column(int),
        "jobNumber": column(str),
        "jobTypeId": column(int, True),
        "businessUnitId": column(int, True),
        "invoiceId": column(int, True),
        "modifiedOn": column(str, True),
    },
    strict=True,
    unique=["id"],
)


def validate(frames: dict[str, pd.DataFrame]) -> list[str]:
    """Problems with the shape of a period's invoices; empty when they may be written."""
    problems = shape_problems(frames, {"invoices": INVOICES, "items": ITEMS, "period": PERIOD})
    if not problems:
        problems += orphans(frames["items"], frames["invoices"], "invoiceId", "items")
    return problems


def validate_jobs(frames: dict[str, pd.DataFrame]) -> list[str]:
    return shape_problems(frames, {"jobs": JOBS})


def validate_records(frames: dict[str, pd.DataFrame]) -> list[str]:
    """Invoices that cannot post as they are, one line each per failed check (they are
    parked by the write step; the others are written)."""
    heads, items = clean(frames["invoices"]), clean(frames["items"])
    if heads.empty:
        return []
    sums, accounts = by_document(items, "invoiceId", "total")
    docs = pd.DataFrame(
        {
            "key": heads["id"],
            "items": heads["id"].map(lambda i: i in sums.index),
            "sum": heads["id"].map(lambda i: sums.get(i)),
            "sub": heads["subTotal"].map(money),
            "tax": heads["salesTax"].map(money),
            "total": heads["total"].map(money),
            "dated": in_period(heads["invoiceDate"], frames["period"]),
            "unit": heads["businessUnitId"].notna(),
            "accounts": heads["id"].map(lambda i: bool(accounts.get(i, True))),
        }
    ).reset_index(drop=True)
    return document_problems(
        docs,
        {
            "has_items": lambda d: d["items"],
            "items_add_up_to_subtotal": lambda d: ~d["items"] | (d["sum"] == d["sub"]),
            "subtotal_plus_tax_is_total": lambda d: d.apply(
                lambda r: (
                    None not in (r["sub"], r["tax"], r["total"])
                    and r["sub"] + r["tax"] == r["total"]
                ),
                axis=1,
            ),
            "invoice_date_in_period": lambda d: d["dated"],
            "business_unit_named": lambda d: d["unit"],
            "items_name_gl_accounts": lambda d: d["accounts"],
        },
        "invoice",
    )
