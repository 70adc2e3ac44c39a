"""Seeded ServiceTitan sales: customers, invoices (1-5 items, some free, one negative
adjustment per unit of scale) and the completed job behind each invoice."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from connector_dagster.sandbox import world
from connector_dagster.sandbox.servicetitan.common import Row, cents
from connector_dagster.sandbox.servicetitan.refdata import SKUS, SKUS_BY_TYPE, TECHNICIANS
from connector_dagster.sandbox.servicetitan.seedkit import (
    DAY,
    HOUR,
    MINUTE,
    Dice,
    month_span,
    months,
)

INVOICES_PER_MONTH = 60


CUSTOMERS_PER_SCALE = 150


_FIRST = ("Maria", "James", "Zoë", "José", "Siobhán", "Wei", "Aaliyah", "Björn", "Priya", "Tom")


_LAST = ("Garcia", "O'Connor", "Müller", "Nguyen", "Smith", "Núñez", "D'Angelo", "Kim", "Brown")


_BUSINESSES = ('"Big Al" Plumbing LLC', "Smith & Sons <Rentals>", "Café Ünter den Linden")


_STREETS = ("Elm St", "Oak Ave", "Maple Dr", "Cedar Ln", "Pine Rd", "Sunset Blvd")


_JOB_SUMMARIES = (
    "Leak under kitchen sink",
    "No heat — furnace won't ignite",
    'AC not cooling; customer says "urgent"',
    "Replace water heater (50 gal)",
    "Annual maintenance \u2013 unit #2",
    "Clogged main line",
)


_ZERO = Decimal(0)


_INTS = tuple(Decimal(i) for i in range(21))


_DRAW = {t: tuple((k.id, k.price, k.cost) for k in SKUS_BY_TYPE[t]) for t in SKUS_BY_TYPE}


def customers(rng: Dice, scale: int) -> list[Row]:
    rows = []
    for i in range(CUSTOMERS_PER_SCALE * scale):
        r = rng.pick(world.REGIONS)
        name = (
            _BUSINESSES[i % len(_BUSINESSES)]
            if i % 25 == 0
            else f"{rng.pick(_FIRST)} {rng.pick(_LAST)}"
        )
        rows.append(
            {
                "id": 5001 + i,
                "name": name,
                "businessUnitId": r.st_business_unit_id,
                "locationId": 6001 + i,
                "address": {
                    "street": f"{rng.between(1, 9999)} {rng.pick(_STREETS)}",
                    "unit": None,
                    "city": r.city,
                    "state": r.state,
                    "zip": r.zip,
                    "country": "USA",
                },
                "createdOn": 0,
                "modifiedOn": 0,
            }
        )
    return rows


def _invoice_items(
    rng: Dice, n: int, next_item: int, free: bool
) -> tuple[list[tuple], Decimal, Decimal]:
    """Items as (id, skuId, quantity, price, cost, order), their subtotal and taxable part."""
    rnd = rng.random
    services, materials, equipment = _DRAW["Service"], _DRAW["Material"], _DRAW["Equipment"]
    items, sub, taxable = [], _ZERO, _ZERO
    for order in range(1, n + 1):
        roll = rnd()
        if roll < 0.4:
            sku, quantity = services[int(rnd() * len(services))], _INTS[1 + int(rnd() * 3)]
        elif roll < 0.85:
            sku, quantity = materials[int(rnd() * len(materials))], _INTS[1 + int(rnd() * 10)]
        else:
            sku, quantity = equipment[int(rnd() * len(equipment))], _INTS[1]
        price = _ZERO if free else sku[1]
        line = quantity * price
        sub += line
        if roll >= 0.4:
            taxable += line
        items.append((next_item + order - 1, sku[0], quantity, price, sku[2], order))
    return items, sub, taxable


def totals(items: list[tuple], tax_rate: Decimal) -> tuple[Decimal, Decimal]:
    """Subtotal and sales tax of invoice items (materials and equipment are taxable)."""
    sub = sum((i[2] * i[3] for i in items), _ZERO)
    taxable = sum((i[2] * i[3] for i in items if SKUS[i[1]].type != "Service"), _ZERO)
    return cents(sub), cents(taxable * tax_rate)


def invoices_and_jobs(
    rng: Dice,
    scale: int,
    customers: list[Row],
    per_month: Mapping[tuple[int, int], int] | None = None,
) -> tuple[list[Row], list[Row]]:
    """60 x `scale` invoices a month, each with its job (an adjustment's is its
    original's), or as many as `per_month` gives for a (year, month)."""
    per_month = per_month or {}
    invoices: list[Row] = []
    jobs: list[Row] = []
    invoice_id, job_id, item_id = 77_000_000, 88_000_000, 0
    tax_rates = {r.st_business_unit_id: r.tax_rate for r in world.REGIONS}
    for mi, (y, m) in enumerate(months()):
        start, end = month_span(y, m)
        ndays = (end - start) // DAY
        for k in range(per_month.get((y, m), INVOICES_PER_MONTH * scale)):
            cust = rng.pick(customers)
            region = cust["businessUnitId"]
            completed = start + rng.below(ndays) * DAY + rng.span(8 * HOUR, 18 * HOUR)
            free = rng.random() < 0.03
            items, sub, taxable = _invoice_items(rng, rng.between(1, 5), item_id + 1, free)
            tax = cents(taxable * tax_rates[region])
            item_id += len(items)
            invoice_id += 1
            original = invoices[k] if mi == 1 and k < scale else None
            adjustment = original is not None
            if original is not None:
                sku = SKUS_BY_TYPE["Service"][1]
                items = [(items[0][0], sku.id, Decimal(-1), sku.price, sku.cost, 1)]
                sub, tax = totals(items, tax_rates[region])
            created = completed + rng.span(5 * MINUTE, 3 * HOUR)
            posted = rng.random() >= 0.05
            paid = posted and rng.random() < 0.6
            invoice = {
                "id": invoice_id,
                "jobId": original["jobId"] if original else job_id + 1,
                "customerId": cust["id"],
                "businessUnitId": region,
                "invoiceDate": completed - completed % DAY,
                "dueDate": completed - completed % DAY + 30 * DAY,
                "createdOn": created,
                "modifiedOn": created + rng.span(0, 48 * HOUR),
                "syncStatus": "Posted" if posted else "Pending",
                "reviewStatus": "Reviewed" if posted else "NeedsReview",
                "sentStatus": "Sent" if posted else "NotSent",
                "active": rng.random() > 0.005,
                "summary": "Credit: labor overcharge" if adjustment else rng.pick(_JOB_SUMMARIES),
                "items": items,
                "subTotal": sub,
                "salesTax": tax,
                "total": sub + tax,
                "balance": Decimal(0) if paid else sub + tax,
                "paidOn": created + rng.span(1, 20) * DAY if paid else None,
                "adjustmentToId": original["id"] if original else None,
                "batchId": 900 + mi * 31 + (completed - start) // DAY if posted else None,
                "technicianId": rng.pick(TECHNICIANS),
                "exportId": None,
                "externalMessage": None,
            }
            invoices.append(invoice)
            if adjustment:
                continue
            job_id += 1
            jobs.append(
                {
                    "id": job_id,
                    "invoiceId": invoice_id,
                    "customerId": cust["id"],
                    "locationId": cust["locationId"],
                    "businessUnitId": region,
                    "jobTypeId": 34 if free else rng.pick((31, 32, 33)),
                    "jobStatus": "Completed",
                    "priority": "High" if rng.random() < 0.1 else "Normal",
                    "completedOn": completed,
                    "createdOn": completed - rng.span(HOUR, 72 * HOUR),
                    "modifiedOn": completed + rng.span(MINUTE, HOUR),
                    "noCharge": free,
                    "total": sub + tax,
                    "summary": invoice["summary"],
                    "soldById": invoice["technicianId"],
                    "active": True,
                }
            )
    return invoices, jobs
