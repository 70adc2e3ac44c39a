"""Deterministic IFS data for the sandbox, built from `world` with a seed and a scale.

Purchase orders with their lines and supplier-invoice posting proposals with
balanced lines, over the accounting periods of `world.WINDOW_START` ..
`world.WINDOW_END`: about 40 POs and 30 proposals a month at scale 1, as of
the sandbox's clock: an order or proposal dated after it is not seeded and no
change (ChangeDate, Objversion) is later than it; wanted dates are plans and may
lie beyond it. The same (seed, scale, clock) always gives the same rows, and a
period's rows do not depend on the clock once their last change (at most five
days after the period) has passed. A few rows are deliberately awkward: an
order number with a quote, one with a non-ASCII letter, an inactive vendor,
no-part lines, zero and negative prices; proposals are in `seed_proposals`.
"""

from __future__ import annotations

import bisect
import calendar
import itertools
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from connector_dagster.sandbox import world
from connector_dagster.sandbox.ifs import seed_accounts, seed_proposals
from connector_dagster.sandbox.ifs.schema import (
    ACCOUNTS,
    CODE_PART_VALUES,
    OBJVERSION_FORMAT,
    PARTS,
    POSTING_PROPOSAL_LINES,
    POSTING_PROPOSALS,
    PURCHASE_ORDER_LINES,
    PURCHASE_ORDERS,
    SITES,
    SUPPLIERS,
    TAX_CODES,
    EntitySet,
    Row,
    rowid,
)

POS_PER_MONTH = 40
PROPOSALS_PER_MONTH = 30
QUOTE_ORDER_NO = "PO-O'NEIL-7"
UNICODE_ORDER_NO = "PO-Ü-12"
AWKWARD_MONTH = (2026, 2)  # the month holding the two awkward order numbers
CLEAN_FROM = (2026, 6)  # no-part and credit lines only in the periods before this

PO_STATE_WEIGHTS = {
    "Planned": 8,
    "Released": 38,
    "Confirmed": 30,
    "Arrived": 4,
    "Received": 9,
    "Closed": 7,
    "Cancelled": 4,
}
LINE_COUNT_WEIGHTS = {1: 20, 2: 25, 3: 22, 4: 15, 5: 10, 6: 8}

_CENT = Decimal("0.01")
_BUYERS = ("ALEX", "MARIA", "DCHEN", "PATEL", "KOWALSKI")
_AUTHORIZERS = ("JBAKER", "SLOPEZ")
_NOTES = (
    "Deliver to rear gate.\nCall Dana on arrival (555-0100).",
    'Use the "blue" loading dock.',
    "Rush: customer's heater is down.",
    "Façade work: coordinate with site lead.",
)
_CANCEL_REASONS = ("Vendor could not supply", "Duplicate order", "Job cancelled by customer")
# Cumulative probability -> kind of an unusual order line.
_ODD_LINES = ((0.02, "no_part"), (0.03, "zero"), (0.04, "credit"))
_NO_PART_LINES = ("Crane rental, half day", "Freight surcharge", "Subcontracted duct cleaning")


def months() -> list[tuple[int, int]]:
    """The (year, month) periods the seed covers."""
    start, end = date.fromisoformat(world.WINDOW_START), date.fromisoformat(world.WINDOW_END)
    result, (y, m) = [], (start.year, start.month)
    while (y, m) <= (end.year, end.month):
        result.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return result


def generate(
    seed: int,
    scale: int,
    until: datetime | None = None,
    period_orders: Mapping[tuple[int, int], int] | None = None,
) -> dict[str, list[Row]]:
    """All seeded rows per entity set name (the external-voucher sets start empty),
    as of the clock `until` (None: the whole window, every change included);
    `period_orders`: how many orders the given (year, month)s hold instead."""
    rows = _Generator(random.Random(seed), scale, until, period_orders or {}).run()
    rows[ACCOUNTS.name] = seed_accounts.rows()
    rows[SUPPLIERS.name] = seed_accounts.suppliers()
    rows[TAX_CODES.name] = seed_accounts.tax_codes()
    rows[SITES.name] = seed_accounts.sites()
    rows[PARTS.name] = seed_accounts.parts()
    rows[CODE_PART_VALUES.name] = seed_accounts.cost_centres()
    return rows


class _Generator:
    """Draws every row of the window in the same order whatever the clock, so that
    the rows it keeps are the same; rows dated after `until` are drawn, not kept."""

    def __init__(
        self,
        rng: random.Random,
        scale: int,
        until: datetime | None,
        period_orders: Mapping[tuple[int, int], int],
    ) -> None:
        self.rng = rng
        self.scale = scale
        self.period_orders = period_orders
        self.until = None if until is None else until.astimezone(UTC).replace(microsecond=0)
        self.rows: dict[str, list[Row]] = {
            s.name: []
            for s in (
                PURCHASE_ORDERS,
                PURCHASE_ORDER_LINES,
                POSTING_PROPOSALS,
                POSTING_PROPOSAL_LINES,
            )
        }
        self.active_vendors = [v for v in world.VENDORS if v.active]
        self.inactive_vendor = next(v for v in world.VENDORS if not v.active)
        self.order_counters: dict[int, int] = {}
        self.proposal_id = seed_proposals.FIRST_PROPOSAL_ID
        self.po_states = _Weighted(PO_STATE_WEIGHTS)
        self.proposal_states = _Weighted(seed_proposals.PROPOSAL_STATE_WEIGHTS)
        self.line_counts = _Weighted(LINE_COUNT_WEIGHTS)

    def int_between(self, low: int, high: int) -> int:
        """A uniform integer in [low, high]; quicker than Random.randint."""
        return low + int(self.rng.random() * (high - low + 1))

    def choice(self, items: Sequence[Any]) -> Any:
        return items[int(self.rng.random() * len(items))]

    def run(self) -> dict[str, list[Row]]:
        rng = self.rng
        for year, month in months():
            days = calendar.monthrange(year, month)[1]
            count = round(POS_PER_MONTH * self.scale * rng.uniform(0.85, 1.15))
            for _ in range(self.period_orders.get((year, month), count)):
                self.purchase_order(date(year, month, self.int_between(1, days)))
            if (year, month) == AWKWARD_MONTH:
                self.awkward_orders(date(year, month, 10))
            for _ in range(round(PROPOSALS_PER_MONTH * self.scale * rng.uniform(0.85, 1.15))):
                seed_proposals.posting_proposal(self, date(year, month, self.int_between(1, days)))
        # After every drawn row, so that the ids and draws of the others stay as they were.
        seed_proposals.awkward_proposals(self, date(*AWKWARD_MONTH, 18))
        return self.rows

    def add(
        self, eset: EntitySet, values: dict[str, Any], kept: bool, seq: int | None = None
    ) -> None:
        """Keep a row if `kept`; its ROWID numbers on from the kept rows unless `seq` is given."""
        rows = self.rows[eset.name]
        values["Objkey"] = f"{self.rng.getrandbits(128):032X}"
        if kept:
            rows.append(eset.make_row(values, rowid(eset.name, seq or len(rows) + 1)))

    def kept(self, day: date) -> bool:
        """Whether a record dated `day` exists by the clock."""
        return self.until is None or day <= self.until.date()

    def changed(self, day: date) -> tuple[datetime, str]:
        """The last change of a record dated `day`: within five days, never after the clock."""
        at = datetime(day.year, day.month, day.day, 7, tzinfo=UTC) + timedelta(
            seconds=self.int_between(0, 5 * 86400 - 1)
        )
        if self.until is not None:
            at = min(at, self.until)
        return at, at.strftime(OBJVERSION_FORMAT)

    def purchase_order(
        self,
        order_date: date,
        order_no: str | None = None,
        vendor: world.Vendor | None = None,
        line_kinds: tuple[str, ...] | None = None,
    ) -> None:
        """One order; fixed order number, vendor and line kinds make a Released one."""
        rng = self.rng
        if order_no is None:
            n = self.order_counters.get(order_date.year, 0) + 1
            self.order_counters[order_date.year] = n
            order_no = f"PO-{order_date.year}-{n:05d}"
        state = "Released" if vendor else self.po_states.pick(rng)
        vendor = vendor or self.choice(self.active_vendors)
        region = self.choice(world.REGIONS)
        changed, objversion = self.changed(order_date)
        wanted = (order_date + timedelta(days=self.int_between(3, 21))).isoformat()
        kept = self.kept(order_date)
        self.add(
            PURCHASE_ORDERS,
            {
                "OrderNo": order_no,
                "VendorNo": vendor.ifs_vendor_no,
                "OrderDate": order_date.isoformat(),
                "Objstate": state,
                "Contract": region.ifs_site,
                "BuyerCode": self.choice(_BUYERS),
                "AuthorizeCode": None if state == "Planned" else self.choice(_AUTHORIZERS),
                "CurrencyCode": world.CURRENCY,
                "Company": world.COMPANY,
                "DateEntered": (order_date - timedelta(days=self.int_between(0, 3))).isoformat(),
                "ChangeDate": changed,
                "WantedReceiptDate": wanted,
                "Reference": f"JOB {self.int_between(100000, 999999)}"
                if rng.random() < 0.3
                else None,
                "NoteText": self.choice(_NOTES) if rng.random() < 0.05 else None,
                "TaxCode": region.ifs_tax_code,
                "CancelReason": self.choice(_CANCEL_REASONS) if state == "Cancelled" else None,
                "Objversion": objversion,
            },
            kept,
        )
        if line_kinds is None:
            line_kinds = tuple(
                self._line_kind(order_date) for _ in range(self.line_counts.pick(rng))
            )
        header = (order_no, vendor, state, region, wanted, objversion)
        for line_no, kind in enumerate(line_kinds, start=1):
            self.order_line(header, line_no, kind, kept)

    def _line_kind(self, order_date: date) -> str:
        """Mostly a part line; 2% no-part (service) lines, 1% free, 1% credit lines.

        From CLEAN_FROM on, only free lines remain odd: the recent periods that
        tests and demos sync end to end hold no record ServiceTitan must refuse."""
        roll = self.rng.random()
        kind = next((kind for limit, kind in _ODD_LINES if roll < limit), "")
        if (order_date.year, order_date.month) >= CLEAN_FROM and kind != "zero":
            return ""
        return kind

    def order_line(self, header: tuple, line_no: int, kind: str, kept: bool) -> None:
        order_no, vendor, state, region, wanted, objversion = header
        part = self.choice(world.PARTS)
        qty = Decimal(self.int_between(1, 40))
        price = {"zero": Decimal("0.00"), "credit": -part.unit_price}.get(kind, part.unit_price)
        if kind == "no_part":
            part_no, description = None, self.choice(_NO_PART_LINES)
            qty, price = Decimal(1), Decimal(self.int_between(80, 900))
        else:
            part_no, description = part.ifs_part_no, part.description
        net = (qty * price).quantize(_CENT)
        self.add(
            PURCHASE_ORDER_LINES,
            {
                "OrderNo": order_no,
                "LineNo": str(line_no),
                "ReleaseNo": "1",
                "PartNo": part_no,
                "Description": description,
                "BuyQtyDue": qty,
                "BuyUnitMeas": part.unit,
                "BuyUnitPrice": price,
                "NetAmtCurr": net,
                "GrossAmtCurr": (net * (1 + region.tax_rate)).quantize(_CENT),
                "CurrencyCode": world.CURRENCY,
                "Objstate": state,
                "Contract": region.ifs_site,
                "VendorNo": vendor.ifs_vendor_no,
                "WantedDeliveryDate": wanted,
                "TaxCode": region.ifs_tax_code,
                "Objversion": objversion,
            },
            kept,
        )

    def awkward_orders(self, day: date) -> None:
        """Order numbers with a quote and with 'Ü', and one order to an inactive vendor."""
        quoted = next(v for v in self.active_vendors if "'" in v.name)
        accented = next(v for v in self.active_vendors if not v.name.isascii())
        self.purchase_order(day, QUOTE_ORDER_NO, quoted, ("", ""))
        self.purchase_order(day, UNICODE_ORDER_NO, accented, ("", "credit", "zero"))
        self.purchase_order(day, vendor=self.inactive_vendor)


class _Weighted:
    """Draws from fixed weights with one random number."""

    def __init__(self, weights: dict[Any, int]) -> None:
        self.values = list(weights)
        self.cumulative = list(itertools.accumulate(weights.values()))

    def pick(self, rng: random.Random) -> Any:
        return self.values[bisect.bisect(self.cumulative, rng.random() * self.cumulative[-1])]
