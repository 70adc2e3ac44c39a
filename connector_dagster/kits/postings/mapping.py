"""What F3 and F4 share in mapping, pure: the mapping tables they read (declared once)
and their look-ups, amounts in the company currency, and a document's signed lines
turned into an IFS posting set (a header and balanced rows, debits and credits per
account)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints

from connector_dagster.engine.problems import Problems
from connector_dagster.engine.records import Mapped
from connector_dagster.kits.postings.settings import PostingSettings
from connector_dagster.lib.mapping import Mappings, Table
from connector_dagster.lib.numbers import decimal_or_none, places

IfsCode = Annotated[str, StringConstraints(min_length=1, max_length=20, pattern=r"^\S+$")]


class BusinessUnit(BaseModel):
    """Where a ServiceTitan business unit's documents post in IFS."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    company: IfsCode
    cost_centre: IfsCode


class TaxCode(BaseModel):
    """A ServiceTitan tax zone's IFS tax code, and the account its sales tax posts to."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    tax_code: IfsCode
    account: IfsCode


ACCOUNTS = Table("ifs_accounts", "ServiceTitan GL account id -> IFS account", IfsCode)
BUSINESS_UNITS = Table(
    "business_units", "ServiceTitan business unit id -> IFS company and cost centre", BusinessUnit
)
TAX_CODES = Table(
    "ifs_tax_codes", "ServiceTitan tax zone id -> IFS tax code and sales tax account", TaxCode
)
TABLES = (ACCOUNTS, BUSINESS_UNITS, TAX_CODES)

MARKER_ROOM = 53
"""Characters of IFS's 200-character Text kept for the target's connection marker."""
TEXT_LENGTH = 200 - MARKER_ROOM
EXTERNAL_ID = re.compile(r"^IFS (\S+/\S+)$")
"""The `externalId` this connector gives a ServiceTitan document: `IFS <IFS key>`."""


def external_id(target_id: str) -> str:
    return f"IFS {target_id}"


def exported_by_us(export_id: Any) -> bool:
    """Whether a document's `exportId` is one this connector wrote (`IFS ACME01/17`)."""
    return bool(EXTERNAL_ID.match(str(export_id or "")))


@dataclass(frozen=True)
class Line:
    """One posting of a document: an IFS account, a signed amount (debit positive) and
    its text."""

    account: str
    amount: Decimal
    text: str


def gl_account(row: dict[str, Any], where: str, maps: Mappings, problems: Problems) -> str | None:
    """The IFS account of a document line's GL account (`where` names the line)."""
    if row.get("glAccountId") is None:
        problems.add("validation", f"{where} has no generalLedgerAccount; set it in ServiceTitan")
        return None
    return problems.mapped(
        maps,
        ACCOUNTS,
        row["glAccountId"],
        f"{where} generalLedgerAccount",
        "IFS account",
        f"{row.get('glAccountNumber')} {row.get('glAccountName')}",
    )


def business_unit(doc: dict[str, Any], maps: Mappings, problems: Problems) -> BusinessUnit | None:
    """The IFS company and cost centre of a document's business unit."""
    if doc.get("businessUnitId") is None:
        problems.add("validation", "has no businessUnit; set it in ServiceTitan")
        return None
    found = problems.mapped(
        maps, BUSINESS_UNITS, doc["businessUnitId"], "businessUnit", "IFS company and cost centre"
    )
    return None if found is None else BusinessUnit.model_validate(found)


def tax_code(
    doc: dict[str, Any],
    tax: Decimal | None,
    fields: tuple[str, str],
    maps: Mappings,
    problems: Problems,
) -> TaxCode | None:
    """The IFS tax code of a document's tax zone, when it has tax; `fields` names its tax
    amount and tax zone fields in problems."""
    if not tax:
        return None
    tax_field, zone_field = fields
    if doc.get("taxZoneId") is None:
        problems.add("validation", f"has {tax_field} {tax} but no {zone_field}; set its tax zone")
        return None
    found = problems.mapped(maps, TAX_CODES, doc["taxZoneId"], zone_field, "IFS tax code")
    return None if found is None else TaxCode.model_validate(found)


def amount(raw: Any, field: str, problems: Problems, settings: PostingSettings) -> Decimal | None:
    """A money field (ServiceTitan sends strings) in the company currency's decimals."""
    value = decimal_or_none(raw)
    if value is None:
        problems.add("validation", f"{field} {raw!r} is not an amount; correct it in ServiceTitan")
        return None
    if places(value) > settings.decimals:
        problems.add(
            "validation",
            f"{field} {raw} has more decimals than {settings.currency} allows "
            f"({settings.decimals}); correct it in ServiceTitan",
        )
        return None
    return value.quantize(Decimal(1).scaleb(-settings.decimals))


def number(raw: Any) -> Decimal | None:
    """A quantity or unit cost, any number of decimals; None if it is not a number."""
    return decimal_or_none(raw)


def business_date(raw: Any) -> date | None:
    """The date part of a ServiceTitan business date (`2026-10-05T00:00:00Z`)."""
    try:
        return date.fromisoformat(str(raw)[:10])
    except ValueError:
        return None


def in_period(day: date | None, field: str, period: dict[str, Any], problems: Problems) -> None:
    start, end = date.fromisoformat(period["start"]), date.fromisoformat(period["end"])
    if day is None:
        problems.add("validation", f"{field} is not a date; correct it in ServiceTitan")
    elif not start <= day < end:
        problems.add(
            "validation",
            f"{field} {day} is outside the period {start:%Y-%m} it was read for; "
            "re-run the period of its date",
        )


def clip(text: str, length: int = TEXT_LENGTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= length else text[: length - 1] + "…"


def posting_set(
    header: dict[str, Any],
    lines: Sequence[Line],
    unit: BusinessUnit,
    settings: PostingSettings,
    code_parts: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The IFS posting set of a document's lines: one row per account and text (amounts
    summed; zero sums left out), a debit or a credit in the company currency, each row
    with the business unit's cost centre (and `code_parts`)."""
    sums: dict[tuple[str, str], Decimal] = {}
    for line in lines:
        sums[(line.account, line.text)] = sums.get((line.account, line.text), Decimal(0)) + (
            line.amount
        )
    cent = Decimal(1).scaleb(-settings.decimals)
    rows = []
    for (account, text), exact in sums.items():
        total = exact.quantize(cent, ROUND_HALF_UP)
        if total == 0:
            continue
        debit, credit = (total, None) if total > 0 else (None, -total)
        rows.append(
            {
                "Account": account,
                settings.cost_centre_part: unit.cost_centre,
                **(code_parts or {}),
                "CurrencyDebetAmount": debit,
                "CurrencyCreditAmount": credit,
                "DebetAmount": debit,
                "CreditAmount": credit,
                "CurrencyCode": settings.currency,
                "Text": clip(text, 200),
            }
        )
    return {
        "header": {
            "Company": unit.company,
            "VoucherType": settings.voucher_type,
            **header,
            "Text": clip(header["Text"]),
        },
        "rows": rows,
    }


def unbalanced(payload: dict[str, Any]) -> Decimal:
    """Debits minus credits of a posting set's rows: zero when it balances."""
    rows = payload["rows"]
    debits = sum((r["CurrencyDebetAmount"] or Decimal(0) for r in rows), Decimal(0))
    return debits - sum((r["CurrencyCreditAmount"] or Decimal(0) for r in rows), Decimal(0))


def not_posted_yet(
    who: str, status: str, *, exported: bool, by_others: str | None, sync_statuses: Sequence[str]
) -> Mapped | None:
    """Whether a ServiceTitan document is left out rather than posted (a reported
    `ignore`): exported by someone else (`by_others` says how, None when this connector
    exported it), or in a status that is not posted yet. None: it is posted."""
    if exported and by_others is not None:
        return Mapped(None, op="ignore", note=f"{who} {by_others}")
    if not exported and status not in sync_statuses:
        return Mapped(
            None,
            op="ignore",
            note=f"{who} is {status} in ServiceTitan, not posted yet: it is posted to IFS "
            "once it is",
        )
    return None
