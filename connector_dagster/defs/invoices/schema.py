"""F3's pandera schemas of the invoices and jobs read from ServiceTitan, run as checks
(the helpers are shared with F4).

The shape checks (blocking) guard what was read: columns, ids, dates, items that
belong to a read invoice, one period. `DOCUMENTS` (a warning, not blocking) checks
each invoice: it has items, its items add up to its subtotal and that plus tax to its
total, its date lies in the period, its business unit and accounts are named. An
invoice that fails is parked on its own by the write step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import pandas as pd
import pandera.pandas as pa

from connector_dagster.engine.bounds import Amounts, number
from connector_dagster.engine.frames import clean, shape_problems

DATE = r"^\d{4}-\d{2}-\d{2}$"


def _is(kind: type) -> pa.Check:
    if kind is bool:
        return pa.Check(lambda v: isinstance(v, bool), element_wise=True, name="is_bool")
    return pa.Check(
        lambda v: isinstance(v, kind) and not isinstance(v, bool),
        element_wise=True,
        name=f"is_{kind.__name__}",
    )


def column(kind: type, nullable: bool = False, *checks: pa.Check) -> pa.Column:
    """An object column whose present values are of `kind` (bool, int or str)."""
    return pa.Column(object, [_is(kind), *checks], nullable=nullable)


INVOICES = pa.DataFrameSchema(
    {
        "id": column(int),
        "number": column(str, True),
        "invoiceDate": column(str, True, pa.Check.str_matches(DATE)),
        "syncStatus": column(str),
        "active": column(bool),
        "exportId": column(str, True),
        "businessUnitId": column(int, True),
        "taxZoneId": column(int, True),
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
        "glAccountId": column(int, True),
        "glAccountNumber": column(str, True),
        "glAccountName": column(str, True),
    },
    strict=True,
    unique=["id"],
)
PERIOD = pa.DataFrameSchema(
    {
        "key": column(str, False, pa.Check.str_matches(r"^\d{4}-\d{2}-01$")),
        "start": column(str, False, pa.Check.str_matches(DATE)),
        "end": column(str, False, pa.Check.str_matches(DATE)),
    },
    strict=True,
    checks=pa.Check(lambda f: len(f) == 1, name="one_period"),
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


def orphans(
    children: pd.DataFrame, parents: pd.DataFrame, key: str, what: str, parent_key: str = "id"
) -> list[str]:
    """Rows of `children` whose `key` names no row of `parents` (by `parent_key`)."""
    missing = set(children[key]) - set(parents[parent_key])
    return [f"{what}: {len(missing)} of them belong to no document read"] if missing else []


def money(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None
    return number if number is not None and number.is_finite() else None


def total(values: pd.Series) -> Decimal:
    """The sum of money values; NaN when one of them is not an amount."""
    amounts = [money(v) for v in values]
    return sum((a if a is not None else Decimal("NaN") for a in amounts), Decimal(0))


def in_period(days: pd.Series, period: pd.DataFrame) -> pd.Series:
    """Whether each date (`YYYY-MM-DD…`) lies in the read's period."""
    start, end = (date.fromisoformat(period.iloc[0][f]) for f in ("start", "end"))

    def inside(text: Any) -> bool:
        try:
            return start <= date.fromisoformat(str(text)[:10]) < end
        except ValueError:
            return False

    return days.map(inside)


def document_problems(
    documents: pd.DataFrame, checks: dict[str, Callable[[pd.DataFrame], pd.Series]], what: str
) -> list[str]:
    """`<what> <key>: <check>` for each document (a row with its `key`) failing a check."""
    schema = pa.DataFrameSchema(checks=[pa.Check(fn, name=name) for name, fn in checks.items()])
    try:
        schema.validate(documents, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        return sorted(
            {
                f"{what} {documents.loc[int(index), 'key']}: {check}"
                for index, check in zip(cases["index"], cases["check"], strict=True)
                if pd.notna(index)
            }
        )
    return []


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
    by_invoice = items.groupby("invoiceId")
    sums = by_invoice["total"].agg(total)
    accounts = by_invoice["glAccountId"].agg(lambda s: s.notna().all())
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


def posting_total(payload: Mapping[str, Any]) -> Decimal:
    """An IFS posting set payload's total: its debits."""
    return sum(
        (number(row["CurrencyDebetAmount"]) or Decimal(0) for row in payload["rows"]), Decimal(0)
    )


POSTING_AMOUNTS = Amounts(
    amounts={
        "rows[].CurrencyDebetAmount": "row {n} (account {Account}) debit",
        "rows[].CurrencyCreditAmount": "row {n} (account {Account}) credit",
    },
    total=posting_total,
    total_label="total of debits",
)
"""The amounts of an IFS posting set payload (F3's and F4's), bounded by the engine (a
row's DebetAmount and CreditAmount are its currency amounts at rate 1)."""
