"""The variance report as text, Markdown, CSV and JSON; each starts with (or, for CSV
and JSON, holds) the one-line summary."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from connector_dagster.kits.variance.report import VarianceReport

CENT = Decimal("0.01")
FORMATS = ("text", "markdown", "csv", "json")
TOTALS = (
    ("ifs_orders", "IFS POs of the period (not cancelled)"),
    ("ifs_ordered", "their ordered amount"),
    ("bills", "bills of the period (not cancelled)"),
    ("ap_bills", "  AP bills"),
    ("inventory_bills", "  inventory bills"),
    ("cancelled_bills", "cancelled bills (left out)"),
    ("bill_amount", "bills' amount (lines)"),
    ("tax", "bills' tax"),
    ("shipping", "bills' shipping"),
    ("bill_total", "bills' total (payable)"),
    ("posted_total", "of it posted in ServiceTitan"),
    ("bills_on_ifs_pos", "bills on IFS POs"),
    ("billed_on_ifs_pos", "their lines billed"),
    ("po_amount_billed", "the PO lines' amount"),
    ("quantity_variance", "quantity variance"),
    ("price_variance", "price variance"),
    ("without_po", "bills without a PO"),
    ("without_po_total", "their total"),
    ("po_not_in_ifs", "bills on a PO not in IFS"),
    ("po_not_in_ifs_total", "their total"),
    ("received_not_billed", "POs received, not billed"),
    ("received_not_billed_amount", "their received amount"),
    ("untied", "bills' amount not in their lines"),
    ("unreadable", "records not read"),
)
GROUP_COLUMNS = ("po_amount", "billed_on_pos", "quantity_variance", "price_variance",
                 "without_po", "po_not_in_ifs", "received_not_billed")  # fmt: skip
LINE_HEAD = ("vendor", "site", "PO", "line", "part", "bills", "ordered", "received",
             "billed", "PO price", "billed price", "PO amount", "billed amount",
             "qty variance", "price variance")  # fmt: skip
BILL_HEAD = ("vendor", "site", "bill", "date", "ServiceTitan PO", "amount", "total")
UNBILLED_HEAD = ("vendor", "site", "PO", "received", "amount")
CSV_HEAD = ("section", "vendor", "site", "order_no", "line", "part", "bill", "date",
            "purchase_order", "ordered_qty", "received_qty", "billed_qty", "po_price",
            "billed_price", "po_amount", "billed_amount", "quantity_variance",
            "price_variance", "amount", "total", "name")  # fmt: skip


def money(value: Decimal | None) -> str:
    return "" if value is None else f"{value.quantize(CENT):,.2f}"


def figure(value: Decimal | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return f"{value:,}"
    return money(value)


def quantity(value: Decimal | None) -> str:
    if value is None:
        return ""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def price(value: Decimal | None) -> str:
    return "" if value is None else quantity(value.quantize(Decimal("0.0001")))


def plain(value: Decimal | int | None) -> str:
    """An amount exactly as computed, with at least its cents: 708.00, 12.3456."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    exponent = value.as_tuple().exponent
    return f"{value.quantize(CENT) if isinstance(exponent, int) and exponent > -2 else value:f}"


def _line_cells(r: Any) -> list[str]:
    return [
        r.vendor, r.site, r.order_no, r.line or "(not on PO)", r.part, " ".join(r.bills),
        quantity(r.ordered), quantity(r.received), quantity(r.billed), price(r.po_price),
        price(r.billed_price), money(r.po_amount), money(r.billed_amount),
        money(r.quantity_variance), money(r.price_variance),
    ]  # fmt: skip


def _bill_cells(b: Any) -> list[str]:
    return [b.vendor, b.site, b.bill, b.bill_date, b.purchase_order, money(b.amount),
            money(b.total)]  # fmt: skip


def _unbilled_cells(u: Any) -> list[str]:
    return [u.vendor, u.site, u.order_no, u.received, money(u.amount)]


def _group_cells(g: Any) -> list[str]:
    return [g.vendor, g.site, *(money(getattr(g, c)) for c in GROUP_COLUMNS)]


def _sections(report: VarianceReport) -> list[tuple[str, Sequence[str], list[list[str]]]]:
    variances = report.variances()
    return [
        ("Per vendor and site", ("vendor", "site", *GROUP_COLUMNS),
         [_group_cells(g) for g in report.groups]),
        (f"Lines with a variance ({len(variances)} of {len(report.lines)} lines of the billed "
         "IFS POs)", LINE_HEAD, [_line_cells(r) for r in variances]),
        (f"Bills without a PO ({len(report.without_po)})", BILL_HEAD,
         [_bill_cells(b) for b in report.without_po]),
        (f"Bills on a ServiceTitan PO that IFS does not have ({len(report.po_not_in_ifs)})",
         BILL_HEAD, [_bill_cells(b) for b in report.po_not_in_ifs]),
        (f"POs received, not billed ({len(report.received_not_billed)})", UNBILLED_HEAD,
         [_unbilled_cells(u) for u in report.received_not_billed]),
    ]  # fmt: skip


def text(report: VarianceReport) -> str:
    out = [report.summary(), "", "Totals"]
    width = max(len(label) for _, label in TOTALS)
    for key, label in TOTALS:
        out.append(f"  {label:<{width}}  {figure(report.totals[key]):>16}")
    for title, head, rows in _sections(report):
        out += ["", title]
        if rows:
            widths = [max(len(str(c)) for c in col) for col in zip(head, *rows, strict=False)]
            for row in (head, *rows):
                out.append("  " + "  ".join(f"{c:<{w}}" for c, w in zip(row, widths, strict=True)))
    if report.unreadable:
        out += ["", f"Records not read ({len(report.unreadable)})"]
        out += [f"  {problem}" for problem in report.unreadable]
    return "\n".join(out)


def _md_table(head: Sequence[str], rows: list[list[str]]) -> list[str]:
    def cell(value: str) -> str:
        return str(value).replace("|", "\\|")

    return [
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
        *("| " + " | ".join(cell(c) for c in row) + " |" for row in rows),
    ]


def markdown(report: VarianceReport, limit: int | None = None) -> str:
    """The report in Markdown; with `limit`, each list shows at most that many rows."""
    out = [f"**{report.summary()}**", "", "| total | |", "|---|---:|"]
    out += [f"| {label.strip()} | {figure(report.totals[key])} |" for key, label in TOTALS]
    for title, head, rows in _sections(report):
        out += ["", f"### {title}", ""]
        shown = rows if limit is None else rows[:limit]
        out += _md_table(head, shown) if rows else ["(none)"]
        if len(shown) < len(rows):
            out += ["", f"… and {len(rows) - len(shown)} more (the CLI's CSV has them all)"]
    if report.unreadable:
        out += ["", f"### Records not read ({len(report.unreadable)})", ""]
        out += [f"- {problem}" for problem in report.unreadable]
    return "\n".join(out)


def csv_text(report: VarianceReport) -> str:
    """Every list in one CSV, a `section` column naming the list; totals last."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_HEAD, lineterminator="\n")
    writer.writeheader()
    for r in report.lines:
        writer.writerow({
            "section": "line", "vendor": r.vendor, "site": r.site, "order_no": r.order_no,
            "line": r.line, "part": r.part, "bill": " ".join(r.bills),
            "ordered_qty": quantity(r.ordered), "received_qty": quantity(r.received),
            "billed_qty": quantity(r.billed), "po_price": plain(r.po_price),
            "billed_price": price(r.billed_price), "po_amount": plain(r.po_amount),
            "billed_amount": plain(r.billed_amount),
            "quantity_variance": plain(r.quantity_variance),
            "price_variance": plain(r.price_variance),
        })  # fmt: skip
    for section, bills in (("without_po", report.without_po),
                           ("po_not_in_ifs", report.po_not_in_ifs)):  # fmt: skip
        for b in bills:
            writer.writerow({
                "section": section, "vendor": b.vendor, "site": b.site, "bill": b.bill,
                "date": b.bill_date, "purchase_order": b.purchase_order,
                "amount": plain(b.amount), "total": plain(b.total),
            })  # fmt: skip
    for u in report.received_not_billed:
        writer.writerow({
            "section": "received_not_billed", "vendor": u.vendor, "site": u.site,
            "order_no": u.order_no, "date": u.received, "amount": plain(u.amount),
        })  # fmt: skip
    for g in report.groups:
        for column in GROUP_COLUMNS:
            writer.writerow({"section": "group", "vendor": g.vendor, "site": g.site,
                             "name": column, "amount": plain(getattr(g, column))})  # fmt: skip
    for key, _ in TOTALS:
        writer.writerow({"section": "total", "name": key, "amount": plain(report.totals[key])})
    return buffer.getvalue()


def json_text(report: VarianceReport) -> str:
    return json.dumps({"summary": report.summary(), **report.as_dict()}, ensure_ascii=False)


RENDER: dict[str, Callable[[VarianceReport], str]] = {
    "text": text,
    "markdown": markdown,
    "csv": csv_text,
    "json": json_text,
}
