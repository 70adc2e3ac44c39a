"""ServiceTitan AP or inventory bill -> IFS GL posting set: pure mapping, no I/O.

Each item (quantity x cost) and expense line debits its GL account (the
`ifs_accounts` table), the bill's tax and shipping debit the connection's tax and
shipping accounts, and the payable account is credited with the whole; a negative
bill (a credit) the other way round. Every row takes the cost centre of the bill's
business unit (`business_units`, which also names the IFS company); the tax zone's IFS
tax code (`ifs_tax_codes`) names the tax row. The header's reference, `ST-APB-<id>`
or `ST-INB-<id>`, finds it again in IFS.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connector_dagster.defs.bills.settings import BillSettings
from connector_dagster.engine.records import Item, Mapped
from connector_dagster.kits.postings.mapping import (
    Line,
    Problems,
    amount,
    business_date,
    business_unit,
    clip,
    gl_account,
    in_period,
    not_posted_yet,
    number,
    posting_set,
    tax_code,
    unbalanced,
)
from connector_dagster.lib.mapping import Mappings

EXPORTED = ("Exported", "PostedAndExported")
PREFIX = {"ap": "APB", "inventory": "INB"}
NAME = {"ap": "AP bill", "inventory": "inventory bill"}


def reference(key: str) -> str:
    """The IFS reference of bill `key` (`ap-5000123`): `ST-APB-5000123`."""
    kind, _, bill_id = key.partition("-")
    return f"ST-{PREFIX[kind]}-{bill_id}"


def map_item(item: Item, maps: Mappings, settings: BillSettings) -> Mapped:
    """One bill read (with its lines): a cancelled one cancels its posting set; one
    exported by someone else, not posted yet in ServiceTitan, or of zero total is not
    written (and reported); any other becomes its posting set."""
    bill = item.data["bill"]
    who = f"{NAME[bill['kind']]} {bill['id']}"
    if bill.get("status") == "Canceled":
        return Mapped(None, op="cancel")
    status = bill["syncStatus"]
    by_others = (
        None
        if item.data["ours"]
        else f"is {status} in ServiceTitan by someone else (this connector never wrote it), "
        "so it is not posted to IFS"
    )
    left_out = not_posted_yet(
        who,
        status,
        exported=status in EXPORTED,
        by_others=by_others,
        sync_statuses=settings.sync_statuses,
    )
    return left_out or map_bill(item, maps, settings)


def map_bill(item: Item, maps: Mappings, settings: BillSettings) -> Mapped:
    """The posting set of one bill; every problem names the bill, its line and the
    field, and the fix."""
    bill, rows = item.data["bill"], item.data["lines"]
    what = NAME[bill["kind"]]
    problems = Problems(f"{what} {bill['id']}")
    day = business_date(bill["billDate"])
    in_period(day, "billDate", item.data["period"], problems)
    billed = amount(bill["billAmount"], "billAmount", problems, settings)
    tax = amount(bill.get("taxAmount") or "0", "taxAmount", problems, settings)
    shipping = amount(bill.get("shippingAmount") or "0", "shippingAmount", problems, settings)
    if not rows:
        problems.add("validation", "has no items or expense lines; add them in ServiceTitan")
    lines: list[Line] = []
    summed = Decimal(0)
    for row in rows:
        value = _line_amount(row, problems, settings)
        account = gl_account(row, f"{row['line']} {row['id']}", maps, problems)
        if value is not None:
            summed += value
        if value is not None and account is not None:
            lines.append(Line(account, value, clip(str(row.get("glAccountName") or account), 120)))
    if rows and billed is not None and summed != billed:
        problems.add(
            "validation",
            f"its lines add up to {summed} but its billAmount is {billed}; correct the bill "
            "in ServiceTitan",
        )
    unit = business_unit(bill, maps, problems)
    code = tax_code(bill, tax, ("taxAmount", "taxZone"), maps, problems)
    if problems or unit is None or None in (billed, tax, shipping):
        return Mapped(None, list(problems))
    assert billed is not None and tax is not None and shipping is not None
    vendor = bill.get("vendorName") or "no vendor"
    number = bill.get("vendorNumber") or bill.get("referenceNumber") or bill["id"]
    if tax and code is not None:
        lines.append(Line(settings.tax_account, tax, f"Tax {code.tax_code}"))
    if shipping:
        lines.append(Line(settings.shipping_account, shipping, "Shipping"))
    lines.append(Line(settings.payable_account, -(billed + tax + shipping), f"{vendor} {number}"))
    payload = posting_set(
        {
            "VoucherDate": day.isoformat(),  # type: ignore[union-attr]
            "Text": f"ServiceTitan {what} {bill['id']} {vendor} {number}: "
            f"{bill.get('summary') or ''}",
            "Reference": reference(item.key),
        },
        lines,
        unit,
        settings,
    )
    if not payload["rows"]:
        return Mapped(
            None,
            op="ignore",
            note=f"{what} {bill['id']} totals 0.00 on every account: nothing to post to IFS",
        )
    off = unbalanced(payload)
    if off:
        problems.add(
            "validation",
            f"its lines rounded to {settings.currency} leave it unbalanced by {off}; round "
            "its unit costs in ServiceTitan",
        )
        return Mapped(None, list(problems))
    return Mapped({**payload, "export": {"kind": bill["kind"], "id": int(bill["id"])}})


def _line_amount(row: dict[str, Any], problems: Problems, settings: BillSettings) -> Decimal | None:
    """An expense line's amount, or an item's quantity times its unit cost (exact: a
    unit cost may have more decimals than the currency; rows are rounded once summed)."""
    where = f"{row['line']} {row['id']}"
    if row["line"] == "expense":
        return amount(row.get("amount"), f"{where} amount", problems, settings)
    quantity, cost = number(row.get("quantity")), number(row.get("cost"))
    if quantity is None or cost is None:
        problems.add(
            "validation",
            f"{where} quantity {row.get('quantity')!r} or cost {row.get('cost')!r} is not a "
            "number; correct it in ServiceTitan",
        )
        return None
    return quantity * cost
