"""What the variance report reads for one period, through the connection's clients:
ServiceTitan's AP and inventory bills of the period (by bill date), its purchase orders
of the period (by PO date, and those last changed in it: a receipt changes its PO) and
those the bills name; IFS's purchase orders of the period
(by order date) with their lines, and those the bills lead to. Every list is paged; a
period at a time, nothing more."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from connector_dagster.engine.records import Period
from connector_dagster.engine.session import Session
from connector_dagster.kits.purchase_orders.provenance import (
    marked_order,
    raised_in_servicetitan,
    reference_marker,
)
from connector_dagster.lib.numbers import decimal_or_none
from connector_dagster.systems.ifs import odata

HEADERS_SET = "PurchaseOrderHandling.svc/PurchaseOrderSet"
LINES_SET = "entity/v1/PurchaseOrderLineEntity.svc/PurchaseOrderLineSet"
REFERENCE_FIELD = "Reference"
"""F1's defaults (`purchase_orders` settings), used when the connection does not run F1."""
BILL_TYPES = {"ApBill": "ap", "Procurement": "inventory"}
HEADER_FIELDS = ["OrderNo", "VendorNo", "OrderDate", "Objstate", "Contract"]
LINE_FIELDS = ["OrderNo", "LineNo", "ReleaseNo", "PartNo", "Description", "BuyQtyDue",
               "BuyUnitPrice", "Objstate"]  # fmt: skip
LINE_KEYS = ("OrderNo", "LineNo", "ReleaseNo")


class Unreadable(ValueError):
    """A record whose field is not what the report can count: names both."""


@dataclass
class PoLine:
    line: str
    """`LineNo/ReleaseNo`."""
    part_no: str | None
    description: str
    quantity: Decimal
    price: Decimal
    cancelled: bool

    @property
    def amount(self) -> Decimal:
        return self.quantity * self.price


@dataclass
class IfsOrder:
    order_no: str
    vendor_no: str | None
    site: str | None
    order_date: str
    state: str | None
    reference: str | None
    lines: list[PoLine] = field(default_factory=list)

    @property
    def cancelled(self) -> bool:
        return self.state == "Cancelled"

    @property
    def amount(self) -> Decimal:
        """Its lines not cancelled: what IFS ordered."""
        return sum((ln.amount for ln in self.lines if not ln.cancelled), Decimal(0))


@dataclass
class StItem:
    sku_id: int | None
    quantity: Decimal
    received: Decimal
    cost: Decimal


@dataclass
class StOrder:
    id: int
    number: str
    status: str | None
    vendor_id: int | None
    business_unit_id: int | None
    date: str
    received_on: str | None
    summary: str | None
    items: list[StItem] = field(default_factory=list)


@dataclass
class BillItem:
    order: int
    sku_id: int | None
    sku: str
    quantity: Decimal
    cost: Decimal

    @property
    def amount(self) -> Decimal:
        return self.quantity * self.cost


@dataclass
class Bill:
    kind: str
    """`ap` or `inventory`."""
    id: int
    bill_date: str
    vendor_id: int | None
    vendor_name: str | None
    business_unit_id: int | None
    business_unit_name: str | None
    purchase_order_id: int | None
    sync_status: str | None
    status: str | None
    amount: Decimal
    tax: Decimal
    shipping: Decimal
    items: list[BillItem] = field(default_factory=list)
    expenses: list[Decimal] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.kind}-{self.id}"

    @property
    def total(self) -> Decimal:
        """What the bill asks to be paid, and F4 credits to payables."""
        return self.amount + self.tax + self.shipping

    @property
    def cancelled(self) -> bool:
        return self.status == "Canceled"


@dataclass
class PeriodData:
    """Both systems' records of one period, as read."""

    period: Period
    bills: list[Bill]
    st_orders: dict[int, StOrder]
    """ServiceTitan POs of the period, those changed in it and those the period's bills
    name, by id."""
    ifs_orders: dict[str, IfsOrder]
    """IFS POs of the period and those the period's bills lead to, by OrderNo."""
    period_orders: list[str]
    """OrderNos of the IFS POs whose order date lies in the period."""
    unreadable: list[str] = field(default_factory=list)
    """One line per record left out: the record, the field, what is wrong."""


def _number(value: Any, what: str, name: str) -> Decimal:
    result = decimal_or_none(value)
    if result is None:
        raise Unreadable(f"{what}: {name} {value!r} is not a number")
    return result


def _midnight(day: Any) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _ref(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _bill(kind: str, row: dict[str, Any]) -> Bill:
    what = f"ServiceTitan {kind} bill {row.get('id')}"
    items = [
        BillItem(
            int(item.get("order") or n),
            item.get("skuId"),
            str(item.get("skuCode") or item.get("name") or item.get("skuId")),
            _number(item.get("quantity"), what, f"items[{n - 1}].quantity"),
            _number(item.get("cost"), what, f"items[{n - 1}].cost"),
        )
        for n, item in enumerate(row.get("items") or [], 1)
    ]
    expenses = [
        _number(e.get("amount"), what, f"expenseItems[{n}].amount")
        for n, e in enumerate(row.get("expenseItems") or [])
    ]
    vendor, unit = _ref(row.get("vendor")), _ref(row.get("businessUnit"))
    return Bill(
        kind=kind,
        id=int(row["id"]),
        bill_date=str(row.get("billDate") or "")[:10],
        vendor_id=vendor.get("id"),
        vendor_name=vendor.get("name"),
        business_unit_id=unit.get("id"),
        business_unit_name=unit.get("name"),
        purchase_order_id=row.get("purchaseOrderId"),
        sync_status=row.get("syncStatus"),
        status=row.get("status"),
        amount=_number(row.get("billAmount"), what, "billAmount"),
        tax=_number(row.get("taxAmount") or 0, what, "taxAmount"),
        shipping=_number(row.get("shippingAmount") or 0, what, "shippingAmount"),
        items=items,
        expenses=expenses,
    )


def _st_order(row: dict[str, Any]) -> StOrder:
    what = f"ServiceTitan PO {row.get('number') or row.get('id')}"
    return StOrder(
        id=int(row["id"]),
        number=str(row.get("number") or row["id"]),
        status=row.get("status"),
        vendor_id=row.get("vendorId"),
        business_unit_id=row.get("businessUnitId"),
        date=str(row.get("date") or "")[:10],
        received_on=str(row.get("receivedOn") or "")[:10] or None,
        summary=row.get("summary"),
        items=[
            StItem(
                item.get("skuId"),
                _number(item.get("quantity"), what, f"items[{n}].quantity"),
                _number(item.get("quantityReceived") or 0, what, f"items[{n}].quantityReceived"),
                _number(item.get("cost"), what, f"items[{n}].cost"),
            )
            for n, item in enumerate(row.get("items") or [])
        ],
    )


class Reader:
    """Reads a period for the variance report over one connection's session."""

    def __init__(self, session: Session) -> None:
        self.session = session
        settings = session.connection.flow("purchase_orders")
        self.headers_set = getattr(settings, "headers_set", HEADERS_SET)
        self.lines_set = getattr(settings, "lines_set", LINES_SET)
        self.reference_field = getattr(settings, "servicetitan_reference_field", REFERENCE_FIELD)
        self.unreadable: list[str] = []

    def read(self, period: Period) -> PeriodData:
        bills = self.bills(period)
        st_orders = self.st_orders_of(period)
        st_orders.update(self.st_orders_changed_in(period))
        wanted = {b.purchase_order_id for b in bills if b.purchase_order_id} - set(st_orders)
        st_orders.update(self.st_orders_by_id(wanted))
        ifs_orders = self.ifs_orders_of(period)
        period_orders = list(ifs_orders)
        by_number = {o.number: o for o in st_orders.values()}
        linked = {
            raised[0]
            for o in ifs_orders.values()
            if (raised := raised_in_servicetitan(o.reference)) and raised[1] == self.session.name
        }
        order_nos = {
            no for o in st_orders.values() if (no := marked_order(o.summary, self.session.name))
        } - set(ifs_orders)
        references = [
            reference_marker(number, self.session.name)
            for number in sorted(set(by_number) - linked)
        ]
        ifs_orders.update(self.ifs_orders_where("OrderNo", sorted(order_nos)))
        ifs_orders.update(self.ifs_orders_where(self.reference_field, references))
        return PeriodData(period, bills, st_orders, ifs_orders, period_orders, self.unreadable)

    def _keep(self, build: Any, *args: Any) -> Any:
        try:
            return build(*args)
        except Unreadable as exc:
            self.unreadable.append(str(exc))
            return None

    def bills(self, period: Period) -> list[Bill]:
        """Every AP and inventory bill whose bill date lies in the period."""
        st = self.session.servicetitan
        last_day = period.end - timedelta(days=1)
        bills = []
        for bill_type, kind in BILL_TYPES.items():
            params = {
                "billType": bill_type,
                "dateFrom": f"{period.start.isoformat()}T00:00:00Z",
                "dateTo": f"{last_day.isoformat()}T00:00:00Z",
            }
            for row in st.iter_pages("accounting", "ap-bills", params):
                bill = self._keep(_bill, kind, row)
                if bill is not None:
                    bills.append(bill)
        return bills

    def st_orders_of(self, period: Period) -> dict[int, StOrder]:
        rows = self.session.servicetitan.iter_pages(
            "inventory",
            "purchase-orders",
            {"dateOnOrAfter": _midnight(period.start), "dateBefore": _midnight(period.end)},
        )
        return self._st_orders(rows)

    def st_orders_changed_in(self, period: Period) -> dict[int, StOrder]:
        """POs last changed in the period, wherever their date: a receipt of the period
        on a PO ordered before it is among them (unless the PO changed again since)."""
        rows = self.session.servicetitan.iter_pages(
            "inventory",
            "purchase-orders",
            {"modifiedOnOrAfter": _midnight(period.start), "modifiedBefore": _midnight(period.end)},
        )
        return self._st_orders(rows)

    def st_orders_by_id(self, ids: Iterable[int]) -> dict[int, StOrder]:
        ids = sorted(ids)
        if not ids:
            return {}
        return self._st_orders(
            self.session.servicetitan.get_by_ids("inventory", "purchase-orders", ids)
        )

    def _st_orders(self, rows: Iterable[dict[str, Any]]) -> dict[int, StOrder]:
        orders = {}
        for row in rows:
            order = self._keep(_st_order, row)
            if order is not None:
                orders[order.id] = order
        return orders

    def ifs_orders_of(self, period: Period) -> dict[str, IfsOrder]:
        ifs = self.session.ifs
        rows = ifs.query(
            self.headers_set,
            filter=odata.and_(
                odata.eq("Company", self.session.connection.ifs.company),
                odata.ge("OrderDate", period.start),
                odata.lt("OrderDate", period.end),
            ),
            select=[*HEADER_FIELDS, self.reference_field],
            orderby=["OrderNo"],
            keys=("OrderNo",),
        )
        return self._with_lines(rows)

    def ifs_orders_where(self, name: str, values: list[str]) -> dict[str, IfsOrder]:
        """The connection's company's POs whose `name` is one of `values`."""
        if not values:
            return {}
        rows = self.session.ifs.query_any_of(
            self.headers_set,
            name,
            values,
            filter=odata.eq("Company", self.session.connection.ifs.company),
            select=[*HEADER_FIELDS, self.reference_field],
            keys=("OrderNo",),
        )
        return self._with_lines(rows)

    def _with_lines(self, rows: Iterable[Any]) -> dict[str, IfsOrder]:
        orders = {
            row["OrderNo"]: IfsOrder(
                order_no=row["OrderNo"],
                vendor_no=row.get("VendorNo"),
                site=row.get("Contract"),
                order_date=str(row.get("OrderDate") or "")[:10],
                state=row.get("Objstate"),
                reference=row.get(self.reference_field),
            )
            for row in rows
        }
        for line in self._lines(list(orders)):
            order = orders.get(line["OrderNo"])
            if order is None:
                continue
            built = self._keep(_po_line, order.order_no, line)
            if built is not None:
                order.lines.append(built)
        return orders

    def _lines(self, order_nos: list[str]) -> list[dict[str, Any]]:
        """The orders' lines: a request per group of orders that keeps its URL within
        IFS's limit, the groups fetched concurrently (as F1 reads them)."""
        if not order_nos:
            return []
        ifs = self.session.ifs
        groups = ifs.chunks(
            self.lines_set, order_nos, lambda v: odata.eq("OrderNo", v),
            select=LINE_FIELDS, orderby=list(LINE_KEYS),
        )  # fmt: skip

        def fetch(group: list[str]) -> list[dict[str, Any]]:
            return list(
                ifs.query(
                    self.lines_set, filter=odata.any_of("OrderNo", group), select=LINE_FIELDS,
                    orderby=list(LINE_KEYS), keys=LINE_KEYS,
                )
            )  # fmt: skip

        return [line for part in ifs.map_concurrent(fetch, list(groups)) for line in part]


def _po_line(order_no: str, row: dict[str, Any]) -> PoLine:
    label = f"{row.get('LineNo')}/{row.get('ReleaseNo')}"
    what = f"IFS PO {order_no} line {label}"
    return PoLine(
        line=label,
        part_no=row.get("PartNo"),
        description=str(row.get("Description") or ""),
        quantity=_number(row.get("BuyQtyDue"), what, "BuyQtyDue"),
        price=_number(row.get("BuyUnitPrice"), what, "BuyUnitPrice"),
        cancelled=row.get("Objstate") == "Cancelled",
    )


def read_period(session: Session, period: Period) -> PeriodData:
    """Both systems' records of `period` for the variance report."""
    return Reader(session).read(period)
