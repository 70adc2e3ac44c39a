"""The variance of a period, computed from what was read (pure, no I/O): each IFS PO
line against what the period's ServiceTitan bills charged for it (a quantity variance
at the PO's price, a price variance on the billed quantity), the bills without a PO or
on a PO IFS does not have, the POs received but not billed, and the totals, per vendor
and site, that tie to the bills' amounts.

A bill reaches an IFS PO through its ServiceTitan PO and the markers F1 and F5 write
(`IFS PO <OrderNo>` in the ServiceTitan PO's memo, `ST PO <number>` in the IFS PO's
reference); a bill line reaches a PO line by the part's SKU (the `parts` mapping)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from connector_dagster.kits.purchase_orders.provenance import marked_order, raised_in_servicetitan
from connector_dagster.kits.variance.read import Bill, IfsOrder, PeriodData, PoLine, StOrder
from connector_dagster.lib.mapping import Mappings

ZERO = Decimal(0)
POSTED = ("Posted", "PostedAndExported")
"""ServiceTitan sync statuses of a bill that is posted (what F4 posts to IFS)."""
RECEIVED_IN_IFS = ("Arrived", "Received", "Closed")
"""IFS states of a PO whose goods came in: its receipt when ServiceTitan shows none in the
period."""


@dataclass
class LineVariance:
    """One IFS PO line (or a bill line the PO does not have) against the period's bills."""

    vendor: str
    site: str
    order_no: str
    line: str
    """`LineNo/ReleaseNo`; empty for a bill line that is not on the PO."""
    part: str
    bills: list[str]
    ordered: Decimal
    received: Decimal | None
    billed: Decimal
    po_price: Decimal | None
    billed_amount: Decimal

    @property
    def po_amount(self) -> Decimal:
        return self.ordered * self.po_price if self.po_price is not None else ZERO

    @property
    def billed_price(self) -> Decimal | None:
        return self.billed_amount / self.billed if self.billed else None

    @property
    def quantity_variance(self) -> Decimal:
        """(billed - ordered) x the PO's price; a line not on the PO: all it billed."""
        if self.po_price is None:
            return self.billed_amount
        return (self.billed - self.ordered) * self.po_price

    @property
    def price_variance(self) -> Decimal:
        """What was billed beyond the PO's price for the quantity billed."""
        if self.po_price is None:
            return ZERO
        return self.billed_amount - self.billed * self.po_price


@dataclass
class BillRow:
    """A bill of the period that is not set against an IFS PO."""

    vendor: str
    site: str
    bill: str
    bill_date: str
    purchase_order: str
    """The ServiceTitan PO it names, if any."""
    amount: Decimal
    total: Decimal


@dataclass
class Unbilled:
    """An IFS PO received in the period (ServiceTitan's receipt), or ordered in it and in a
    received IFS state, and not billed in the period."""

    vendor: str
    site: str
    order_no: str
    received: str
    """The ServiceTitan receipt's date, or the IFS state that says it came in."""
    amount: Decimal


@dataclass
class Group:
    """The figures of one vendor at one site."""

    vendor: str
    site: str
    po_amount: Decimal = ZERO
    billed_on_pos: Decimal = ZERO
    quantity_variance: Decimal = ZERO
    price_variance: Decimal = ZERO
    without_po: Decimal = ZERO
    po_not_in_ifs: Decimal = ZERO
    received_not_billed: Decimal = ZERO


@dataclass
class VarianceReport:
    connection: str
    period: str
    """YYYY-MM."""
    totals: dict[str, Decimal | int]
    lines: list[LineVariance]
    without_po: list[BillRow]
    po_not_in_ifs: list[BillRow]
    received_not_billed: list[Unbilled]
    groups: list[Group]
    unreadable: list[str] = field(default_factory=list)

    @property
    def ties(self) -> bool:
        return self.totals["untied"] == 0

    def variances(self) -> list[LineVariance]:
        """The lines with a quantity or price variance."""
        return [ln for ln in self.lines if ln.quantity_variance or ln.price_variance]

    def summary(self) -> str:
        """The report in one line a person reads."""
        t = self.totals
        tie = "ties to the bills" if self.ties else f"does NOT tie: {t['untied']:,.2f} off"
        return (
            f"variance {self.connection} {self.period}: {t['bills']} bills {t['bill_total']:,.2f} "
            f"against {t['ifs_orders']} IFS POs {t['ifs_ordered']:,.2f}; quantity variance "
            f"{t['quantity_variance']:,.2f}, price variance {t['price_variance']:,.2f} on "
            f"{_count(len(self.variances()), 'line')}; {t['without_po']} bills without a PO "
            f"{t['without_po_total']:,.2f}; {t['po_not_in_ifs']} on a PO not in IFS; "
            f"{t['received_not_billed']} POs received not billed "
            f"{t['received_not_billed_amount']:,.2f}; {tie}"
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON data: amounts as strings, to the cent they were read at."""

        def plain(value: Any) -> Any:
            if isinstance(value, Decimal):
                return str(value)
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, list):
                return [plain(v) for v in value]
            return value

        def line(row: LineVariance) -> dict[str, Any]:
            return plain(
                {
                    **asdict(row),
                    "po_amount": row.po_amount,
                    "billed_price": row.billed_price,
                    "quantity_variance": row.quantity_variance,
                    "price_variance": row.price_variance,
                }
            )

        return {
            "connection": self.connection,
            "period": self.period,
            "ties": self.ties,
            "totals": plain(self.totals),
            "lines": [line(r) for r in self.lines],
            "without_po": [plain(asdict(r)) for r in self.without_po],
            "po_not_in_ifs": [plain(asdict(r)) for r in self.po_not_in_ifs],
            "received_not_billed": [plain(asdict(r)) for r in self.received_not_billed],
            "groups": [plain(asdict(g)) for g in self.groups],
            "unreadable": self.unreadable,
        }


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


class _Names:
    """Vendor and site labels as IFS knows them, from ServiceTitan ids where needed."""

    def __init__(self, maps: Mappings) -> None:
        self.suppliers = {int(v): k for k, v in sorted(maps.table("vendors").items(), reverse=True)}
        self.sites = {
            int(e["business_unit_id"]): k
            for k, e in sorted(maps.table("sites").items(), reverse=True)
        }
        self.parts = {k: int(v) for k, v in maps.table("parts").items()}

    def vendor(self, bill: Bill | StOrder) -> str:
        vendor_id = bill.vendor_id
        if vendor_id in self.suppliers:
            return self.suppliers[vendor_id]
        name = getattr(bill, "vendor_name", None)
        return f"ST vendor {vendor_id}" + (f" ({name})" if name else "")

    def site(self, bill: Bill | StOrder) -> str:
        unit = bill.business_unit_id
        if unit in self.sites:
            return self.sites[unit]
        name = getattr(bill, "business_unit_name", None)
        return f"ST business unit {unit}" + (f" ({name})" if name else "")


def _links(data: PeriodData, connection: str) -> dict[int, IfsOrder]:
    """ServiceTitan PO id -> the IFS PO it stands for (F1's memo marker, F5's reference)."""
    by_number = {o.number: o.id for o in data.st_orders.values()}
    links: dict[int, IfsOrder] = {}
    for order in data.ifs_orders.values():
        raised = raised_in_servicetitan(order.reference)
        if raised and raised[1] == connection and raised[0] in by_number:
            links[by_number[raised[0]]] = order
    for st in data.st_orders.values():
        order_no = marked_order(st.summary, connection)
        if order_no in data.ifs_orders:
            links.setdefault(st.id, data.ifs_orders[order_no])
    return links


class _Lines:
    """The rows of the billed IFS POs: every line, with what bills and receipts say."""

    def __init__(self, names: _Names) -> None:
        self.names = names
        self.rows: dict[tuple[str, str], LineVariance] = {}
        self.received_set: set[tuple[str, str]] = set()

    def _row(self, order: IfsOrder, line: PoLine) -> LineVariance:
        key = (order.order_no, line.line)
        if key not in self.rows:
            self.rows[key] = LineVariance(
                order.vendor_no or "", order.site or "", order.order_no, line.line,
                line.part_no or line.description, [], line.quantity, None, ZERO, line.price, ZERO,
            )  # fmt: skip
        return self.rows[key]

    def _extra(self, order: IfsOrder, part: str) -> LineVariance:
        key = (order.order_no, f"+{part}")
        if key not in self.rows:
            self.rows[key] = LineVariance(
                order.vendor_no or "", order.site or "", order.order_no, "", part, [], ZERO,
                None, ZERO, None, ZERO,
            )  # fmt: skip
        return self.rows[key]

    def _pick(self, order: IfsOrder, sku_id: int | None, used: set[str]) -> PoLine | None:
        """The PO line of the SKU, one not yet taken first."""
        lines = [
            ln
            for ln in order.lines
            if not ln.cancelled and ln.part_no and self.names.parts.get(ln.part_no) == sku_id
        ]
        return next((ln for ln in lines if ln.line not in used), lines[0] if lines else None)

    def bill(self, order: IfsOrder, bill: Bill) -> None:
        for ln in order.lines:
            if not ln.cancelled:
                self._row(order, ln)
        used: set[str] = {
            ln for (no, ln), r in self.rows.items() if no == order.order_no and r.bills
        }
        for item in sorted(bill.items, key=lambda i: i.order):
            line = self._pick(order, item.sku_id, used)
            row = self._row(order, line) if line else self._extra(order, item.sku)
            if line:
                used.add(line.line)
            row.billed += item.quantity
            row.billed_amount += item.amount
            if bill.key not in row.bills:
                row.bills.append(bill.key)
        for amount in bill.expenses:
            row = self._extra(order, "expense")
            row.billed_amount += amount
            if bill.key not in row.bills:
                row.bills.append(bill.key)

    def receipts(self, order: IfsOrder, st: StOrder) -> None:
        """The ServiceTitan PO's received quantities on the IFS lines of their SKU."""
        if order.order_no in self.received_set:
            return
        self.received_set.add(order.order_no)
        used: set[str] = set()
        for item in st.items:
            line = self._pick(order, item.sku_id, used)
            if line is None:
                continue
            used.add(line.line)
            row = self._row(order, line)
            row.received = (row.received or ZERO) + item.received


def build(data: PeriodData, maps: Mappings, connection: str) -> VarianceReport:
    """The period's variance from both systems' records and the connection's mappings."""
    names = _Names(maps)
    links = _links(data, connection)
    period = data.period
    lines = _Lines(names)
    without_po: list[BillRow] = []
    not_in_ifs: list[BillRow] = []
    billed_orders: set[str] = set()
    billed_st: set[int] = set()
    live = [b for b in data.bills if not b.cancelled]
    for bill in sorted(live, key=lambda b: (b.bill_date, b.key)):
        st_id = bill.purchase_order_id
        order = links.get(st_id) if st_id else None
        if st_id:
            billed_st.add(st_id)
        if order is not None:
            billed_orders.add(order.order_no)
            lines.bill(order, bill)
            lines.receipts(order, data.st_orders[st_id])  # type: ignore[index]
            continue
        st = data.st_orders.get(st_id) if st_id else None
        row = BillRow(
            names.vendor(bill), names.site(bill), bill.key, bill.bill_date,
            (st.number if st else str(st_id)) if st_id else "", bill.amount, bill.total,
        )  # fmt: skip
        (not_in_ifs if st_id else without_po).append(row)

    by_order = {o.order_no: st_id for st_id, o in links.items()}
    unbilled: list[Unbilled] = []
    start, end = period.start.isoformat(), period.end.isoformat()

    def received_in_period(st: StOrder | None) -> bool:
        return st is not None and st.received_on is not None and start <= st.received_on < end

    ordered_in_period = set(data.period_orders)
    received_earlier_orders = {
        links[st.id].order_no
        for st in data.st_orders.values()
        if st.id in links and received_in_period(st)
    }
    for order_no in [*data.period_orders, *sorted(received_earlier_orders - ordered_in_period)]:
        order = data.ifs_orders[order_no]
        if order.cancelled or order_no in billed_orders:
            continue
        st_id = by_order.get(order_no)
        st = data.st_orders.get(st_id) if st_id else None
        if st is not None and st.id in billed_st:
            continue
        received = sum((i.received * i.cost for i in st.items), ZERO) if st else ZERO
        if st and received and received_in_period(st):
            unbilled.append(Unbilled(order.vendor_no or "", order.site or "", order_no,
                                     st.received_on or "", received))  # fmt: skip
        elif order_no in ordered_in_period and order.state in RECEIVED_IN_IFS and order.amount:
            unbilled.append(Unbilled(order.vendor_no or "", order.site or "", order_no,
                                     f"IFS {order.state}", order.amount))  # fmt: skip

    rows = sorted(lines.rows.values(), key=lambda r: (r.vendor, r.site, r.order_no, r.line == "",
                                                      r.line, r.part))  # fmt: skip
    groups: dict[tuple[str, str], Group] = {}

    def group(vendor: str, site: str) -> Group:
        return groups.setdefault((vendor, site), Group(vendor, site))

    for r in rows:
        g = group(r.vendor, r.site)
        g.po_amount += r.po_amount
        g.billed_on_pos += r.billed_amount
        g.quantity_variance += r.quantity_variance
        g.price_variance += r.price_variance
    for b in without_po:
        group(b.vendor, b.site).without_po += b.total
    for b in not_in_ifs:
        group(b.vendor, b.site).po_not_in_ifs += b.total
    for u in unbilled:
        group(u.vendor, u.site).received_not_billed += u.amount

    period_orders = [data.ifs_orders[n] for n in data.period_orders]
    on_pos = [b for b in live if b.purchase_order_id and links.get(b.purchase_order_id)]
    bill_lines = sum(
        (sum((i.amount for i in b.items), ZERO) + sum(b.expenses, ZERO) for b in live), ZERO
    )
    bill_amount = sum((b.amount for b in live), ZERO)
    totals: dict[str, Decimal | int] = {
        "ifs_orders": sum(1 for o in period_orders if not o.cancelled),
        "ifs_ordered": sum((o.amount for o in period_orders if not o.cancelled), ZERO),
        "bills": len(live),
        "ap_bills": sum(1 for b in live if b.kind == "ap"),
        "inventory_bills": sum(1 for b in live if b.kind == "inventory"),
        "cancelled_bills": len(data.bills) - len(live),
        "bill_amount": bill_amount,
        "tax": sum((b.tax for b in live), ZERO),
        "shipping": sum((b.shipping for b in live), ZERO),
        "bill_total": sum((b.total for b in live), ZERO),
        "posted_total": sum((b.total for b in live if b.sync_status in POSTED), ZERO),
        "bills_on_ifs_pos": len(on_pos),
        "billed_on_ifs_pos": sum((r.billed_amount for r in rows), ZERO),
        "po_amount_billed": sum((r.po_amount for r in rows), ZERO),
        "quantity_variance": sum((r.quantity_variance for r in rows), ZERO),
        "price_variance": sum((r.price_variance for r in rows), ZERO),
        "without_po": len(without_po),
        "without_po_total": sum((b.total for b in without_po), ZERO),
        "po_not_in_ifs": len(not_in_ifs),
        "po_not_in_ifs_total": sum((b.total for b in not_in_ifs), ZERO),
        "received_not_billed": len(unbilled),
        "received_not_billed_amount": sum((u.amount for u in unbilled), ZERO),
        "untied": bill_amount - bill_lines,
        "unreadable": len(data.unreadable),
    }
    return VarianceReport(
        connection=connection,
        period=period.key[:7],
        totals=totals,
        lines=rows,
        without_po=without_po,
        po_not_in_ifs=not_in_ifs,
        received_not_billed=unbilled,
        groups=[groups[k] for k in sorted(groups)],
        unreadable=list(data.unreadable),
    )
