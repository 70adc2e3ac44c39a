"""Deterministic ServiceTitan transactions for the simulator: customers, invoices
with jobs, native purchase orders, inventory and AP bills, journal entries.

Everything follows from `world`, `config.seed` and `config.scale`: per month of
the world's window and per unit of scale, 60 invoices (each with its job),
24 purchase orders (20 received and billed), 20 inventory bills and 20 AP bills,
as of the sandbox's clock (`seed_asof`; the journal entry of a month once it is
posted). Rows are compact; the resource modules render them into API shapes."""

from __future__ import annotations

import bisect
import gc
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal

from connector_dagster.sandbox.servicetitan.common import Row, cents, to_us
from connector_dagster.sandbox.servicetitan.refdata import (
    AP_ACCOUNT,
    AR_ACCOUNT,
    INVENTORY_ACCOUNT,
    ITEM_ACCOUNTS,
    SALES_TAX_ACCOUNT,
    SKUS,
    business_units,
    gl_accounts,
    po_types,
    skus,
    tax_zones,
    vendors,
    warehouses,
)
from connector_dagster.sandbox.servicetitan.seed_asof import as_of
from connector_dagster.sandbox.servicetitan.seed_purchasing import ap_bills, purchase_orders
from connector_dagster.sandbox.servicetitan.seed_sales import customers, invoices_and_jobs
from connector_dagster.sandbox.servicetitan.seedkit import DAY, HOUR, Dice, month_span, months
from connector_dagster.sandbox.servicetitan.store import Store


def build(
    seed: int,
    scale: int,
    tenant_id: int,
    until: datetime | None = None,
    period_invoices: Mapping[tuple[int, int], int] | None = None,
) -> Store:
    """A fresh store, the same for the same seed, scale, tenant, clock `until` (None:
    the whole window, every change included) and `period_invoices` (invoices of the
    given (year, month)s, each with its items and job, instead of 60 x scale).

    The cyclic garbage collector is paused meanwhile: the seed allocates about a
    million long-lived containers (scale 100), and collections passing over them
    would free nothing but cost a third of the time."""
    paused = gc.isenabled()
    gc.disable()
    try:
        stamp = None if until is None else to_us(until)
        return _build(seed, scale, tenant_id, stamp, period_invoices or {})
    finally:
        if paused:
            gc.enable()


def _build(
    seed: int,
    scale: int,
    tenant_id: int,
    until: int | None,
    period_invoices: Mapping[tuple[int, int], int],
) -> Store:
    rng = Dice(seed)
    store = Store()
    store.load("vendors", vendors(), logged=False)
    store.load("purchase-order-types", po_types(), logged=False)
    store.load("warehouses", warehouses(), logged=False)
    store.load("tax-zones", tax_zones(), logged=False)
    store.load("gl-accounts", gl_accounts(), logged=False)
    store.load("skus", skus(), logged=False)
    store.load("business-units", business_units(tenant_id))
    people = customers(rng, scale)
    store.load("customers", people, logged=False)
    invoices, jobs = invoices_and_jobs(rng, scale, people, period_invoices)
    pos, bills = purchase_orders(rng, scale, jobs)
    expenses = ap_bills(rng, scale, bills[-1]["id"] + 1)
    counters = {
        "invoice": invoices[-1]["id"],
        "invoice-item": max(i[0] for inv in invoices for i in inv["items"]),
        "job": jobs[-1]["id"],
        "purchase-order": pos[-1]["id"],
        "po-number": len(pos),
        "po-item": max(i["id"] for po in pos for i in po["items"]),
        "bill": expenses[-1]["id"],
        "bill-item": max(i[0] for b in bills for i in b["items"]),
        "je-number": 1000 + len(months()),
        "gl-account": max(store.tables["gl-accounts"]),
    }
    if until is not None:
        invoices, jobs, pos, bills, expenses = as_of(until, invoices, jobs, pos, bills, expenses)
    store.load("jobs", jobs)
    store.load("purchase-orders", pos)
    store.load("inventory-bills", bills)
    store.load("ap-bills", expenses)
    store.load("invoices", invoices)
    store.load("journal-entries", journal_entries(rng, invoices, bills, until), logged=False)
    store.counters = counters
    return store


def journal_entries(
    rng: Dice, invoices: list[Row], bills: list[Row], until: int | None
) -> list[Row]:
    """One ServiceTitan journal entry per month posted by `until` (on its last day),
    summing its invoices and inventory bills per (GL account, business unit)."""
    spans = [month_span(y, m) for y, m in months()]
    if until is not None:
        spans = [(start, end) for start, end in spans if end - DAY <= until]
    starts = [s for s, _ in spans]
    sums: list[dict[tuple[int, int], Decimal]] = [{} for _ in spans]

    def month_of(when: int) -> dict[tuple[int, int], Decimal] | None:
        mi = bisect.bisect_right(starts, when) - 1
        return sums[mi] if 0 <= mi < len(spans) and when < spans[mi][1] else None

    for inv in invoices:
        month = month_of(inv["invoiceDate"])
        if month is None or not inv["active"] or inv["syncStatus"] == "Pending":
            continue
        bu = inv["businessUnitId"]
        for account, amount in (
            (AR_ACCOUNT, inv["total"]),
            (SALES_TAX_ACCOUNT, -inv["salesTax"]),
            *((ITEM_ACCOUNTS[SKUS[i[1]].type][0], -i[2] * i[3]) for i in inv["items"]),
        ):
            month[account, bu] = month.get((account, bu), Decimal(0)) + amount
    for bill in bills:
        month = month_of(bill["billDate"])
        if month is None:
            continue
        bu = bill["businessUnitId"]
        amount = bill["billAmount"] + bill["taxAmount"] + bill["shippingAmount"]
        month[INVENTORY_ACCOUNT, bu] = month.get((INVENTORY_ACCOUNT, bu), Decimal(0)) + amount
        month[AP_ACCOUNT, bu] = month.get((AP_ACCOUNT, bu), Decimal(0)) - amount
    rows = []
    last = len(spans) - 1
    for mi, (start, end) in enumerate(spans):
        closed = mi < last - 1
        version = rng.between(1, 3)
        lines = [
            {
                "accountId": account,
                "businessUnitId": bu,
                "debit": cents(max(net, Decimal(0))),
                "credit": cents(max(-net, Decimal(0))),
                "memo": None,
                "postDate": end - DAY,
            }
            for (account, bu), net in sorted(sums[mi].items())
        ]
        rows.append(
            {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "number": 1001 + mi,
                "name": f"ServiceTitan postings {datetime.fromtimestamp(start / 1e6, UTC):%Y-%m}",
                "source": "ServiceTitan",
                "status": "Closed" if closed else "Open",
                "syncStatus": "Synced" if closed else "NotSynced",
                "versionId": version,
                "lastSyncVersionId": version if closed else None,
                "message": None,
                "postDate": end - DAY,
                "exportedOn": end + 2 * DAY if closed else None,
                "exportedBy": {"id": 10, "name": "Accounting sync"} if closed else None,
                "customFields": {},
                "createdOn": start + HOUR,
                "modifiedOn": end + DAY if until is None or end + DAY <= until else start + HOUR,
                "lines": lines,
            }
        )
    return rows
