"""ServiceTitan invoice -> IFS GL posting set: pure mapping, no I/O.

The receivable account is debited with the invoice's total, each item's GL account
(the `ifs_accounts` table) credited with its items, the tax zone's sales tax account
(`ifs_tax_codes`) with the sales tax; a negative invoice (an adjustment) the other way
round. Every row takes the cost centre of the invoice's business unit
(`business_units`, which also names the IFS company); the job gives the texts (and,
if set, a code part). The header's reference, `ST-INV-<id>`, finds it again in IFS.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connector_dagster.defs.invoices.settings import InvoiceSettings
from connector_dagster.engine.records import Item, Mapped
from connector_dagster.kits.postings.mapping import (
    Line,
    Problems,
    amount,
    business_date,
    business_unit,
    clip,
    exported_by_us,
    gl_account,
    in_period,
    not_posted_yet,
    posting_set,
    tax_code,
)
from connector_dagster.lib.mapping import Mappings

EXPORTED = "Exported"


def reference(key: str) -> str:
    """The IFS reference of invoice `key` (its ServiceTitan id): `ST-INV-77000123`."""
    return f"ST-INV-{key}"


def map_item(item: Item, maps: Mappings, settings: InvoiceSettings) -> Mapped:
    """One invoice read (with its items and job): an inactive one cancels its posting
    set; one exported by another integration, not posted yet in ServiceTitan, or of
    zero total is not written (and reported); any other becomes its posting set."""
    invoice = item.data["invoice"]
    who = f"invoice {item.key}"
    if not invoice["active"]:
        return Mapped(None, op="cancel")
    status, export_id = invoice["syncStatus"], invoice.get("exportId")
    by_others = (
        None
        if exported_by_us(export_id)
        else f"is exported already by another integration (externalId {export_id!r}), so "
        "it is not posted to IFS again"
    )
    left_out = not_posted_yet(
        who,
        status,
        exported=status == EXPORTED,
        by_others=by_others,
        sync_statuses=settings.sync_statuses,
    )
    return left_out or map_invoice(item, maps, settings)


def map_invoice(item: Item, maps: Mappings, settings: InvoiceSettings) -> Mapped:
    """The posting set of one invoice; every problem names the invoice, its item and the
    field, and the fix."""
    invoice, items, job = item.data["invoice"], item.data["items"], item.data.get("job")
    problems = Problems(f"invoice {item.key}")
    day = business_date(invoice["invoiceDate"])
    in_period(day, "invoiceDate", item.data["period"], problems)
    total = amount(invoice["total"], "total", problems, settings)
    sub = amount(invoice["subTotal"], "subTotal", problems, settings)
    tax = amount(invoice["salesTax"], "salesTax", problems, settings)
    ordered = sorted(items, key=lambda r: (r.get("order") or 0, r["id"]))
    values = [amount(r.get("total"), f"item {r['id']} total", problems, settings) for r in ordered]
    if not problems and items and not total and not tax and not any(values):
        return Mapped(None, op="ignore", note=f"invoice {item.key} totals 0.00: nothing to post")
    _check_totals(invoice, values, (sub, tax, total), problems)
    if invoice.get("jobId") is not None and job is None:
        problems.add(
            "validation",
            f"jobId {invoice['jobId']} names a job ServiceTitan did not return; check the "
            "job in ServiceTitan, then replay this record",
        )
    job_text = f", job {job['jobNumber']}" if job else ""
    lines = []
    for row, value in zip(ordered, values, strict=True):
        account = gl_account(row, f"item {row['id']}", maps, problems)
        if value is not None and account is not None:
            text = clip(f"{row.get('glAccountName') or account}{job_text}", 200)
            lines.append(Line(account, -value, text))
    unit = business_unit(invoice, maps, problems)
    code = tax_code(invoice, tax, ("salesTax", "taxZoneId"), maps, problems)
    if problems or unit is None or total is None or tax is None:
        return Mapped(None, list(problems))
    customer = invoice.get("customerName") or "no customer"
    lines.append(
        Line(settings.receivable_account, total, f"Invoice {invoice['number']} {customer}")
    )
    if code is not None:
        lines.append(Line(code.account, -tax, f"Sales tax {code.tax_code}"))
    parts = None
    if settings.job_code_part and job:
        parts = {settings.job_code_part: str(job["jobNumber"])[:20]}
    header = {
        "VoucherDate": day.isoformat(),  # type: ignore[union-attr]
        "Text": f"ServiceTitan invoice {invoice['number']} ({item.key}) {customer}{job_text}: "
        f"{invoice.get('summary') or ''}",
        "Reference": reference(item.key),
    }
    payload = posting_set(header, lines, unit, settings, parts)
    if not payload["rows"]:
        return Mapped(
            None,
            op="ignore",
            note=f"invoice {item.key} totals 0.00 on every account: nothing to post to IFS",
        )
    return Mapped({**payload, "export": {"invoiceId": int(item.key)}})


def _check_totals(
    invoice: dict[str, Any],
    values: list[Decimal | None],
    totals: tuple[Decimal | None, Decimal | None, Decimal | None],
    problems: Problems,
) -> None:
    """It has items, they add up to its subtotal, and that plus its tax to its total."""
    sub, tax, total = totals
    if not values:
        problems.add(
            "validation", "has no items; add them in ServiceTitan (or deactivate the invoice)"
        )
    summed = sum((v for v in values if v is not None), Decimal(0))
    if values and sub is not None and None not in values and summed != sub:
        problems.add(
            "validation",
            f"its items add up to {summed} but its subTotal is {sub}; correct the items or "
            "totals in ServiceTitan",
        )
    if sub is not None and tax is not None and total is not None and sub + tax != total:
        problems.add(
            "validation",
            f"subTotal {sub} plus salesTax {tax} is not its total {total}; correct it in "
            "ServiceTitan",
        )
