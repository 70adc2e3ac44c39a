"""IFS posting proposal -> ServiceTitan journal entry: pure mapping, no I/O.

Each proposal row becomes a journal-entry line: its account (the `gl_accounts`
table), its debit or credit in the company currency, its cost centre code part
(the `cost_centres` table -> business unit), its supplier (the `vendors` table),
its text as memo, the voucher date as post date, and the IFS keys as an external
object. The entry's name carries the proposal's key, so it can be found again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from pydantic import PositiveInt

from connector_dagster.engine.problems import Problems
from connector_dagster.engine.records import Item, Mapped
from connector_dagster.lib.mapping import Mappings, Table
from connector_dagster.lib.numbers import number, places

if TYPE_CHECKING:
    from connector_dagster.defs.gl_postings.settings import GlPostingSettings

NAME_PREFIX = "IFS posting proposal "
TABLES = (
    Table("gl_accounts", "IFS account -> ServiceTitan GL account id", PositiveInt),
    Table("cost_centres", "IFS cost centre -> ServiceTitan business unit id", PositiveInt),
    Table("vendors", "IFS VendorNo -> ServiceTitan vendor id", PositiveInt),
)


def proposal_key(company: Any, proposal_id: Any) -> str:
    """`ACME01-100001`: the proposal's keys, as the ledger and ServiceTitan know it."""
    return f"{company}-{_number(proposal_id)}"


def map_item(item: Item, maps: Mappings, settings: GlPostingSettings) -> Mapped:
    """One proposal read (head and rows): a cancelled one deletes its entry; one in a
    state that does not sync is ignored; any other becomes the journal entry."""
    state = item.data["proposal"]["Objstate"]
    if state in settings.cancelled_states:
        return Mapped(None, op="cancel")
    if state not in settings.states:
        return Mapped(None, op="ignore")
    return map_proposal(item.data["proposal"], item.data["rows"], maps, settings)


def map_proposal(
    head: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    maps: Mappings,
    settings: GlPostingSettings,
) -> Mapped:
    """Map one proposal; every problem names the proposal, the row, the field and the fix."""
    key = proposal_key(head["Company"], head["ProposalId"])
    who = f"proposal {key!r}"
    problems = Problems(who)
    if not rows:
        problems.append(
            ("validation", f"{who}: has no rows; add its postings in IFS, or cancel it")
        )
    post_date = f"{str(head['VoucherDate'])[:10]}T00:00:00Z"
    lines: list[dict[str, Any]] = []
    debits = credits = Decimal(0)
    for row in sorted(rows, key=lambda r: Decimal(str(r["RowNo"]))):
        row_no = _number(row["RowNo"])
        where = f"{who} row {row_no}"

        account_id = business_unit = None
        if row.get("Account"):
            account_id = problems.mapped(
                maps, "gl_accounts", row["Account"], "Account", "GL account", where=where
            )
        else:
            problems.append(("validation", f"{where}: Account is empty; set it in IFS"))
        part = settings.cost_centre_part
        if row.get(part):
            business_unit = problems.mapped(
                maps,
                "cost_centres",
                row[part],
                f"{part} (cost centre)",
                "business unit",
                where=where,
            )
        else:
            problems.append(
                ("validation", f"{where}: {part} (cost centre) is empty; set it in IFS")
            )
        vendor_id = None
        if row.get("PartyType") == settings.supplier_party_type and row.get("PartyTypeId"):
            vendor_id = problems.mapped(
                maps, "vendors", row["PartyTypeId"], "PartyTypeId (supplier)", "vendor", where=where
            )
        debit = _amount(row, "DebetAmount", where, settings, problems)
        credit = _amount(row, "CreditAmount", where, settings, problems)
        if debit is None or credit is None:
            continue
        debits += debit
        credits += credit
        line: dict[str, Any] = {
            "postDate": post_date,
            "accountId": account_id,
            "debit": debit,
            "credit": credit,
            "memo": str(row.get("Text") or "")[:255],
            "businessUnitId": business_unit,
            "externalObjects": [
                {
                    "id": f"{key}-{row_no}",
                    "type": "IfsPostingProposalRow",
                    "name": f"IFS {head['Company']} proposal {_number(head['ProposalId'])} "
                    f"row {row_no}",
                }
            ],
        }
        if vendor_id is not None:
            line["vendorId"] = vendor_id
        lines.append(line)
    if rows and not problems and debits != credits:
        problems.append(
            (
                "validation",
                f"{who}: does not balance in {settings.currency}: debits {debits} and credits "
                f"{credits} (difference {debits - credits}); correct its rows in IFS",
            )
        )
    if problems:
        return Mapped(None, problems)
    return Mapped(
        {
            "name": f"{NAME_PREFIX}{key}",
            "status": "Open",
            "versionId": 0,
            "message": str(head.get("Text") or "")[:255],
            "postDate": post_date,
            "lines": lines,
        }
    )


def _amount(
    row: Mapping[str, Any],
    field: str,
    where: str,
    settings: GlPostingSettings,
    problems: list[tuple[str, str]],
) -> Decimal | None:
    """The row's amount in the company currency (empty is zero), to the currency's
    decimals at most."""
    raw = row.get(field)
    if raw is None or raw == "":
        return Decimal("0.00")
    value = number(raw)
    if value is None or not value.is_finite() or value < 0:
        problems.append(
            ("validation", f"{where}: {field} {raw!r} must be a number of zero or more")
        )
        return None
    if places(value) > settings.decimals:
        problems.append(
            (
                "validation",
                f"{where}: {field} {raw} has more decimals than {settings.currency} allows "
                f"({settings.decimals}); round it in IFS",
            )
        )
        return None
    return value.quantize(Decimal(1).scaleb(-settings.decimals))


def _number(value: Any) -> str:
    """A decimal key (100001, 100001.0, '100001') as its integer text."""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    return str(int(number)) if number == number.to_integral_value() else str(number)
