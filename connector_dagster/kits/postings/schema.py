"""What F3's and F4's pandera checks share: typed object columns, the period frame's
schema, the per-document check runner and its helpers, and the amounts of an IFS
posting set payload (`POSTING_AMOUNTS`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

import pandas as pd
import pandera.pandas as pa

from connector_dagster.engine.bounds import Amounts
from connector_dagster.lib.numbers import decimal_or_none, number

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


PERIOD = pa.DataFrameSchema(
    {
        "key": column(str, False, pa.Check.str_matches(r"^\d{4}-\d{2}-01$")),
        "start": column(str, False, pa.Check.str_matches(DATE)),
        "end": column(str, False, pa.Check.str_matches(DATE)),
    },
    strict=True,
    checks=pa.Check(lambda f: len(f) == 1, name="one_period"),
)


def orphans(
    children: pd.DataFrame, parents: pd.DataFrame, key: str, what: str, parent_key: str = "id"
) -> list[str]:
    """Rows of `children` whose `key` names no row of `parents` (by `parent_key`)."""
    missing = set(children[key]) - set(parents[parent_key])
    return [f"{what}: {len(missing)} of them belong to no document read"] if missing else []


def money(value: Any) -> Decimal | None:
    """An amount as ServiceTitan sends it; None when missing or not a number."""
    return decimal_or_none(value)


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


GL_ACCOUNT = {
    "glAccountId": column(int, True),
    "glAccountNumber": column(str, True),
    "glAccountName": column(str, True),
}
"""The GL account columns of a document's line (an invoice item, a bill line)."""
ROUTING = {"businessUnitId": column(int, True), "taxZoneId": column(int, True)}
"""Where a document posts: its business unit (cost centre) and tax zone."""


def by_document(lines: pd.DataFrame, key: str, value: str) -> tuple[pd.Series, pd.Series]:
    """Per document (`key`): the sum of its lines' `value` and whether every line
    names a GL account."""
    grouped = lines.groupby(key)
    return grouped[value].agg(total), grouped["glAccountId"].agg(lambda s: s.notna().all())
