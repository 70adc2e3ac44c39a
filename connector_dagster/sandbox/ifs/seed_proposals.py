"""Seeded supplier-invoice posting proposals: a head and balanced lines per invoice
(payable against cost accounts, per region and supplier), drawn by the seed's
generator, and a few authorised ones a flow must refuse: one with no lines, one
whose amounts have more decimals than the currency allows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from connector_dagster.sandbox import world
from connector_dagster.sandbox.ifs.schema import (
    POSTING_PROPOSAL_LINES,
    POSTING_PROPOSALS,
    EntitySet,
)

FIRST_PROPOSAL_ID = 100001
PROPOSAL_STATE_WEIGHTS = {"Balanced": 20, "AwaitAuth": 20, "Authorized": 20, "Posted": 40}
NO_LINES_REFERENCE = "V1003-INV-NOLINES"
DECIMALS_REFERENCE = "V1003-INV-DECIMALS"
# account, amount, credit: a payable of 1234.565 against two costs, more decimals than USD's 2
_DECIMAL_LINES = (
    ("2000", Decimal("1234.565"), True),
    ("5010", Decimal("1000.005"), False),
    ("6100", Decimal("234.560"), False),
)
# ROWIDs of the awkward rows, drawn last: far above the others, so the clock moves neither.
_AWKWARD_ROWIDS = 10_000_000
_DEBIT_ACCOUNTS = ("1300", "5010", "5020", "6100")
_ACCOUNT_NAMES = {a.ifs_account: a.name for a in world.GL_ACCOUNTS}


class Generator(Protocol):
    """What the seed's generator offers: its draws, its clock and its rows."""

    proposal_id: int
    proposal_states: Any
    active_vendors: list[world.Vendor]
    rng: Any

    def int_between(self, low: int, high: int) -> int: ...
    def choice(self, items: Sequence[Any]) -> Any: ...
    def add(
        self, eset: EntitySet, values: dict[str, Any], kept: bool, seq: int | None = None
    ) -> None: ...
    def kept(self, day: date) -> bool: ...
    def changed(self, day: date) -> tuple[datetime, str]: ...


def posting_proposal(g: Generator, voucher_date: date) -> None:
    """One drawn proposal: supplier, region, one to four costs, now and then a zero
    line or a credit note."""
    rng = g.rng
    proposal_id, g.proposal_id = g.proposal_id, g.proposal_id + 1
    vendor = g.choice(g.active_vendors)
    region = g.choice(world.REGIONS)
    _, objversion = g.changed(voucher_date)
    kept = g.kept(voucher_date)
    invoice_no = f"{vendor.ifs_vendor_no}-INV-{g.int_between(10000, 99999)}"
    state = g.proposal_states.pick(rng)
    head = (proposal_id, voucher_date, state, invoice_no, vendor, objversion)
    _head(g, head, kept)
    amounts = [Decimal(g.int_between(500, 500000)).scaleb(-2) for _ in range(g.int_between(1, 4))]
    if rng.random() < 0.02:
        amounts.append(Decimal("0.00"))
    credit_note = rng.random() < 0.04
    lines = [("2000", sum(amounts, Decimal("0.00")), not credit_note)]
    lines += [(g.choice(_DEBIT_ACCOUNTS), a, credit_note) for a in amounts]
    for row_no, line in enumerate(lines, start=1):
        _line(g, head, row_no, line, region, kept)


def awkward_proposals(g: Generator, voucher_date: date) -> None:
    """Two authorised proposals of one supplier: no lines; too many decimals (balanced)."""
    vendor, region = g.active_vendors[2], world.REGIONS[1]
    awkward = ((NO_LINES_REFERENCE, ()), (DECIMALS_REFERENCE, _DECIMAL_LINES))
    for n, (reference, lines) in enumerate(awkward, start=1):
        proposal_id, g.proposal_id = g.proposal_id, g.proposal_id + 1
        _, objversion = g.changed(voucher_date)
        kept = g.kept(voucher_date)
        head = (proposal_id, voucher_date, "Authorized", reference, vendor, objversion)
        _head(g, head, kept, _AWKWARD_ROWIDS + n)
        for row_no, line in enumerate(lines, start=1):
            _line(g, head, row_no, line, region, kept, _AWKWARD_ROWIDS + 10 * n + row_no)


def _head(g: Generator, head: tuple, kept: bool, seq: int | None = None) -> None:
    proposal_id, voucher_date, state, invoice_no, vendor, objversion = head
    g.add(
        POSTING_PROPOSALS,
        {
            "Company": world.COMPANY,
            "ProposalId": proposal_id,
            "VoucherDate": voucher_date.isoformat(),
            "VoucherType": "I",
            "Objstate": state,
            "Text": f"Supplier invoice {invoice_no} {vendor.name}",
            "Reference": invoice_no,
            "Objversion": objversion,
        },
        kept,
        seq,
    )


def _line(
    g: Generator,
    head: tuple,
    row_no: int,
    line: tuple,
    region: Any,
    kept: bool,
    seq: int | None = None,
) -> None:
    proposal_id, vendor, objversion = head[0], head[4], head[5]
    account, amount, is_credit = line
    g.add(
        POSTING_PROPOSAL_LINES,
        {
            "Company": world.COMPANY,
            "ProposalId": proposal_id,
            "RowNo": row_no,
            "Account": account,
            "CodeB": region.cost_centre,
            "CurrencyDebetAmount": None if is_credit else amount,
            "CurrencyCreditAmount": amount if is_credit else None,
            "DebetAmount": None if is_credit else amount,
            "CreditAmount": amount if is_credit else None,
            "PartyType": "SUPPLIER",
            "PartyTypeId": vendor.ifs_vendor_no,
            "CurrencyCode": world.CURRENCY,
            "Text": _ACCOUNT_NAMES[account],
            "Objversion": objversion,
        },
        kept,
        seq,
    )
