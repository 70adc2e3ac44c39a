"""F2's pandera schemas of the posting proposals read from IFS, run as checks.

`SHAPE` (blocking) guards what was read: columns, keys, states, rows belonging
to a read proposal. `BALANCES` (a warning, not blocking) checks each proposal:
it balances in the company currency, its accounts and amounts are well-formed.
A proposal that fails it is parked on its own by the write step, so one bad
proposal never blocks the period.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pandas as pd
import pandera.pandas as pa

from connector_dagster.defs.gl_postings.settings import CODE_PARTS
from connector_dagster.engine.bounds import Amounts
from connector_dagster.engine.frames import clean, shape_problems
from connector_dagster.lib.numbers import decimal_or_none, number

AMOUNTS = ("DebetAmount", "CreditAmount", "CurrencyDebetAmount", "CurrencyCreditAmount")
HEADS = pa.DataFrameSchema(
    {
        "Company": pa.Column(str, nullable=False),
        "ProposalId": pa.Column(object, nullable=False),
        "VoucherDate": pa.Column(str, pa.Check.str_matches(r"^\d{4}-\d{2}-\d{2}")),
        "VoucherType": pa.Column(str, nullable=True),
        "Objstate": pa.Column(str, nullable=False),
        "Text": pa.Column(str, nullable=True),
        "Reference": pa.Column(str, nullable=True),
        "etag": pa.Column(str, pa.Check.str_startswith('W/"')),
    },
    strict=True,
    unique=["Company", "ProposalId"],
)
ROWS = pa.DataFrameSchema(
    {
        "Company": pa.Column(str, nullable=False),
        "ProposalId": pa.Column(object, nullable=False),
        "RowNo": pa.Column(object, nullable=False),
        "Account": pa.Column(str, nullable=True),
        **{part: pa.Column(str, nullable=True) for part in CODE_PARTS},
        **{field: pa.Column(object, nullable=True) for field in AMOUNTS},
        "CurrencyCode": pa.Column(str, nullable=True),
        "PartyType": pa.Column(str, nullable=True),
        "PartyTypeId": pa.Column(str, nullable=True),
        "Text": pa.Column(str, nullable=True),
        "etag": pa.Column(str, pa.Check.str_startswith('W/"')),
    },
    strict=True,
    unique=["Company", "ProposalId", "RowNo"],
)


def validate(frames: dict[str, pd.DataFrame]) -> list[str]:
    """Problems with the shape of a period's read; empty when it may be written."""
    problems = shape_problems(frames, {"proposals": HEADS, "rows": ROWS})
    if not problems:
        heads = set(zip(frames["proposals"]["Company"], frames["proposals"]["ProposalId"],
                        strict=True))  # fmt: skip
        orphans = set(zip(frames["rows"]["Company"], frames["rows"]["ProposalId"], strict=True))
        if orphans - heads:
            problems.append(f"rows: {len(orphans - heads)} proposal(s) not read have rows")
    return problems


def _amount(value: object) -> Decimal | None:
    if value is None or value == "":
        return Decimal(0)
    number = decimal_or_none(value)
    return number if number is not None and number >= 0 else None


def _well_formed(rows: pd.DataFrame) -> pd.Series:
    amounts_ok = (
        rows["DebetAmount"].map(_amount).notna() & rows["CreditAmount"].map(_amount).notna()
    )
    return amounts_ok & rows["Account"].map(lambda a: bool(a) and str(a).isalnum())


def _balanced(rows: pd.DataFrame) -> pd.Series:
    debit = rows["DebetAmount"].map(_amount).map(lambda d: d or Decimal(0))
    credit = rows["CreditAmount"].map(_amount).map(lambda d: d or Decimal(0))
    frame = pd.DataFrame({"key": rows["key"], "net": debit - credit})
    net = frame.groupby("key")["net"].transform(lambda s: sum(s, Decimal(0)))
    return net == 0


BALANCES = pa.DataFrameSchema(
    checks=[
        pa.Check(_well_formed, name="accounts_and_amounts_well_formed"),
        pa.Check(_balanced, name="proposal_balances_in_company_currency"),
    ],
)


def validate_records(frames: dict[str, pd.DataFrame]) -> list[str]:
    """Proposals that do not balance or whose accounts or amounts are malformed, one
    line each (they are parked by the write step; the others are written)."""
    rows = clean(frames["rows"]).copy()
    if rows.empty:
        return []
    rows["key"] = [f"{c}-{p}" for c, p in zip(rows["Company"], rows["ProposalId"], strict=True)]
    try:
        BALANCES.validate(rows, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        return sorted(
            {
                f"proposal {rows.loc[int(index), 'key']}: {check}"
                for index, check in zip(cases["index"], cases["check"], strict=True)
                if pd.notna(index)
            }
        )
    return []


def entry_total(payload: Mapping[str, Any]) -> Decimal:
    """A journal entry payload's total: its debits."""
    return sum((number(line["debit"]) for line in payload["lines"]), Decimal(0))


AMOUNTS = Amounts(
    amounts={
        "lines[].debit": "line {n} debit (IFS DebetAmount)",
        "lines[].credit": "line {n} credit (IFS CreditAmount)",
    },
    total=entry_total,
    total_label="total of debits",
)
"""The amounts of F2's payload (a ServiceTitan journal entry), bounded by the engine."""
