"""IFS's business rules on writes, as the simulator enforces them.

Who writes (`Writer`: an API client, or IFS and its users, who may set what
the API may not), the chart of accounts and code parts, closed accounting
periods, orders and vouchers IFS no longer lets change, manual order numbers,
the amounts IFS computes itself, and the balance check of an external voucher.
Every refusal is an IFS-style `DATABASE_ERROR` naming the record and the field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from connector_dagster.sandbox import world
from connector_dagster.sandbox.ifs.odata import ODataError
from connector_dagster.sandbox.ifs.schema import (
    EXTERNAL_VOUCHERS,
    PURCHASE_ORDER_LINES,
    PURCHASE_ORDERS,
    SETS,
    EntitySet,
    column,
)

# Accounts IFS knows besides those shared with ServiceTitan: a proposal or voucher may
# use them, and a connector finds no ServiceTitan counterpart for them.
IFS_ONLY_ACCOUNTS = {"7990": "Suspense", "8100": "Bank Charges"}
ACCOUNTS = frozenset(a.ifs_account for a in world.GL_ACCOUNTS) | frozenset(IFS_ONLY_ACCOUNTS)
COST_CENTRES = frozenset(r.cost_centre for r in world.REGIONS)
_TAX_RATES = {r.ifs_tax_code: r.tax_rate for r in world.REGIONS}
_CENT = Decimal("0.01")
IFS_USER = "IFSAPP"

Values = dict[str, Any]
ClosedCheck = Callable[[str | None, str], bool]
"""(company, YYYY-MM) -> whether that accounting period is closed."""
BlockedCheck = Callable[[str | None, str], bool]
"""(company, account) -> whether an IFS user blocked that account."""


@dataclass(frozen=True)
class Writer:
    """Who writes, and the tenant's switches that decide what they may do."""

    user: str = IFS_USER  # the History Log's Username
    as_user: bool = False  # IFS or a user in its client: read-only fields, no API rules
    po_manual_numbering: bool = True
    po_locked_states: tuple[str, ...] = ("Received", "Closed", "Cancelled")


def database_error(message: str) -> ODataError:
    """IFS's wrapped PL/SQL error, e.g. `ORA-20111: Account.NOTEXIST: …`."""
    return ODataError(
        400, "DATABASE_ERROR", message, [{"code": "DATABASE_ERROR", "message": message}]
    )


def check_insert_keys(eset: EntitySet, body: Values, writer: Writer) -> None:
    """An order number given by the client needs manual numbering on the tenant."""
    manual = writer.as_user or writer.po_manual_numbering
    if eset is PURCHASE_ORDERS and body.get("OrderNo") is not None and not manual:
        raise database_error(
            "ORA-20110: PurchaseOrder.NOMANUALORDERNO: Order numbers are taken from the "
            "site's number series; leave ORDER_NO out of the new purchase order."
        )


def fill(eset: EntitySet, values: Values, parent: Values | None) -> None:
    """Defaults and fields a new row takes from its parent, where the client gave none."""
    for name, value in eset.defaults:
        if values.get(name) is None:
            values[name] = value
    for name in eset.inherit:
        if values.get(name) is None and parent is not None:
            values[name] = parent.get(name)


def derive(eset: EntitySet, values: Values, given: Iterable[str], creating: bool) -> None:
    """Amounts IFS computes: a PO line's net and gross from quantity, price and tax
    code; a GL row's company-currency amounts from its transaction amounts (rate 1)."""
    given = set(given)
    if eset is PURCHASE_ORDER_LINES and (creating or given & {"BuyQtyDue", "BuyUnitPrice"}):
        qty, price = values.get("BuyQtyDue"), values.get("BuyUnitPrice")
        if "NetAmtCurr" not in given and qty is not None and price is not None:
            values["NetAmtCurr"] = (qty * price).quantize(_CENT)
        net = values.get("NetAmtCurr")
        if "GrossAmtCurr" not in given and net is not None:
            rate = _TAX_RATES.get(values.get("TaxCode") or "", Decimal(0))
            values["GrossAmtCurr"] = (net * (1 + rate)).quantize(_CENT)
    if "DebetAmount" in eset.index:
        for company, currency in (
            ("DebetAmount", "CurrencyDebetAmount"),
            ("CreditAmount", "CurrencyCreditAmount"),
        ):
            if company not in given and (creating or currency in given):
                values[company] = values.get(currency)


def check(
    eset: EntitySet,
    values: Values,
    parent: Values | None,
    closed: ClosedCheck,
    blocked: BlockedCheck = lambda company, account: False,
) -> None:
    """Closed periods, the chart of accounts (a blocked account takes no postings) and
    code part B, for an API write."""
    dated = parent if parent is not None and "VoucherDate" in parent else values
    voucher_date = dated.get("VoucherDate")
    company = values.get("Company")
    if voucher_date is not None and closed(company, voucher_date[:7]):
        raise database_error(
            f"ORA-20015: AccountingPeriod.PERIODCLOSED: The period {voucher_date[:7]} "
            f"is closed for company {company} (voucher date {voucher_date})."
        )
    account = values.get("Account")
    if account is not None and account not in ACCOUNTS:
        raise database_error(
            f"ORA-20111: Account.NOTEXIST: Account {account} does not exist in company {company}."
        )
    if account is not None and blocked(company, account):
        raise database_error(
            f"ORA-20124: Account.BLOCKED: Account {account} is blocked for posting in company "
            f"{company}."
        )
    code_b = values.get("CodeB")
    if code_b is not None and code_b not in COST_CENTRES:
        raise database_error(
            f"ORA-20111: CodeB.NOTEXIST: Code part value {code_b} does not exist in code part B."
        )


def check_unlocked(eset: EntitySet, values: Values, parent: Values | None, writer: Writer) -> None:
    """Refuse changing a purchase order (or its lines) in a state IFS no longer lets
    change, and an external voucher (or its rows) once its voucher is created."""
    header_set, header = (eset, values) if eset.parent is None else (SETS[eset.parent], parent)
    if header is None or writer.as_user:
        return
    if header_set is PURCHASE_ORDERS:
        locked: tuple[str, ...] = writer.po_locked_states
    elif header_set is EXTERNAL_VOUCHERS:
        locked = ("Created",)
    else:
        return
    state = header.get("Objstate")
    if state in locked:
        keyref = header_set.keyref(header[k] for k in header_set.keys)
        raise database_error(
            f"ORA-20110: {header_set.luname}.NOTMODIFIABLE: The {header_set.luname} "
            f"{keyref} is {state} and can no longer be changed."
        )


def check_balanced(voucher: Values, rows: list[Values]) -> None:
    """An external voucher balances: some rows, and debits equal credits."""
    load = f"Load ID {voucher['LoadId']} of company {voucher['Company']}"
    if not rows:
        raise database_error(f"ORA-20110: ExtLoadInfo.NOROWS: {load} has no rows.")
    debit = sum((r.get("CurrencyDebetAmount") or Decimal(0) for r in rows), Decimal(0))
    credit = sum((r.get("CurrencyCreditAmount") or Decimal(0) for r in rows), Decimal(0))
    if debit != credit:
        raise database_error(
            f"ORA-20110: ExtLoadInfo.UNBALANCED: {load} is not balanced: debit {debit}, "
            f"credit {credit}."
        )


def not_null(eset: EntitySet, name: str) -> ODataError:
    return database_error(
        f"ORA-20110: {eset.luname}.NULLVALUE: Field [{column(name)}] is mandatory for "
        f"{eset.luname} and requires a value."
    )
