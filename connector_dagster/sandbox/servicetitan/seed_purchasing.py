"""Seeded ServiceTitan purchasing: native purchase orders (not from the ERP; their
memos carry no ERP marker), the inventory bill of each received PO, and
standalone AP bills."""

from __future__ import annotations

import bisect
from decimal import Decimal

from connector_dagster.sandbox import world
from connector_dagster.sandbox.servicetitan.common import Row, cents
from connector_dagster.sandbox.servicetitan.refdata import EXPENSE_ACCOUNTS
from connector_dagster.sandbox.servicetitan.seedkit import DAY, HOUR, Dice, month_span, months

POS_PER_MONTH = 24


RECEIVED_PER_MONTH = 20


AP_BILLS_PER_MONTH = 20


_PO_MEMOS = (
    "Truck restock",
    "Stock replenishment",
    "Job materials — O'Brien residence",
    "Warehouse top-up (Q4)",
    'Special order: ½" fittings',
)


def purchase_orders(rng: Dice, scale: int, jobs: list[Row]) -> tuple[list[Row], list[Row]]:
    active_vendors = [v for v in world.VENDORS if v.active]
    pos: list[Row] = []
    bills: list[Row] = []
    po_id, item_id, bill_id, bill_item = 9_000_000, 4_400_000, 66_000_000, 0
    bounds = [month_span(y, m) for y, m in months()]
    starts = [s for s, _ in bounds]
    jobs_by_month: dict[tuple[int, int], list[Row]] = {}
    for job in jobs:
        mi = bisect.bisect_right(starts, job["completedOn"]) - 1
        jobs_by_month.setdefault((mi, job["businessUnitId"]), []).append(job)
    for mi, (start, end) in enumerate(bounds):
        ndays = (end - start) // DAY
        for k in range(POS_PER_MONTH * scale):
            slot = k % POS_PER_MONTH
            vendor = rng.pick(active_vendors)
            type_id = rng.pick(world.PO_TYPES)[0]
            region = rng.pick(world.REGIONS)
            created = start + rng.below(ndays) * DAY + rng.span(7 * HOUR, 17 * HOUR)
            status = (
                ("Exported" if rng.random() < 0.3 else "Received")
                if slot < RECEIVED_PER_MONTH
                else ("Sent", "Sent", "Pending", "Canceled")[slot - RECEIVED_PER_MONTH]
            )
            received = (
                created + rng.between(2, 7) * DAY if status in ("Received", "Exported") else None
            )
            sent = created + HOUR if status != "Pending" else None
            po_id += 1
            items = []
            for _ in range(rng.between(1, 4)):
                item_id += 1
                part = rng.pick(world.PARTS)
                quantity = Decimal(rng.between(1, 20))
                items.append(
                    {
                        "id": item_id,
                        "skuId": part.st_sku_id,
                        "description": part.description,
                        "vendorPartNumber": f"{vendor.ifs_vendor_no}-{part.ifs_part_no}",
                        "quantity": quantity,
                        "quantityReceived": quantity if received else Decimal(0),
                        "cost": part.unit_price,
                        "status": "Received"
                        if received
                        else "Canceled"
                        if status == "Canceled"
                        else "Pending",
                        "chargeable": True,
                        "budgetCodeId": None,
                        "active": True,
                        "createdOn": created,
                        "modifiedOn": created,
                    }
                )
            sub = sum((i["quantity"] * i["cost"] for i in items), Decimal(0))
            month_jobs = jobs_by_month.get((mi, region.st_business_unit_id))
            po = {
                "id": po_id,
                "number": f"PO-{len(pos) + 1:06d}",
                "status": status,
                "typeId": type_id,
                "vendorId": vendor.st_vendor_id,
                "businessUnitId": region.st_business_unit_id,
                "inventoryLocationId": region.st_warehouse_id,
                "jobId": rng.pick(month_jobs)["id"] if type_id == 13 and month_jobs else None,
                "technicianId": None,
                "projectId": None,
                "budgetCodeId": None,
                "invoiceId": None,
                "batchId": None,
                "shipTo": {
                    "street": region.street,
                    "unit": "",
                    "city": region.city,
                    "state": region.state,
                    "zip": region.zip,
                    "country": "USA",
                },
                "shipToDescription": f"{region.name} warehouse",
                "vendorDocumentNumber": f"INV-{rng.span(10000, 99999)}" if received else "",
                "impactsTechnicianPayroll": False,
                "date": created - created % DAY,
                "requiredOn": created - created % DAY + 7 * DAY,
                "sentOn": sent,
                "receivedOn": received,
                "createdOn": created,
                "modifiedOn": received or sent or created,
                "tax": cents(sub * region.tax_rate),
                "shipping": Decimal(rng.pick((0, 0, 15, 25, 40))),
                "summary": rng.pick(_PO_MEMOS),
                "canceledReason": "NotRequired" if status == "Canceled" else None,
                "items": items,
            }
            pos.append(po)
            if received:
                bill_id += 1
                bill_items = []
                for order, item in enumerate(items, 1):
                    bill_item += 1
                    bill_items.append(
                        (bill_item, item["skuId"], item["quantity"], item["cost"], order)
                    )
                bills.append(bill_from_po(po, bill_id, bill_items))
    return pos, bills


def bill_from_po(po: Row, bill_id: int, items: list[tuple]) -> Row:
    """The inventory (procurement) bill of a received PO; items as (id, skuId, qty, cost, order)."""
    received = po["receivedOn"]
    return {
        "id": bill_id,
        "billType": "Procurement",
        "purchaseOrderId": po["id"],
        "purchaseOrderNumber": po["number"],
        "purchaseOrderTypeId": po["typeId"],
        "vendorId": po["vendorId"],
        "businessUnitId": po["businessUnitId"],
        "inventoryLocationId": po["inventoryLocationId"],
        "referenceNumber": str(bill_id),
        "vendorNumber": po["vendorDocumentNumber"],
        "summary": po["summary"],
        "billDate": received - received % DAY,
        "dueDate": received - received % DAY + 30 * DAY,
        "postDate": received - received % DAY,
        "createdOn": received + HOUR,
        "modifiedOn": received + 2 * HOUR,
        "syncStatus": "Posted",
        "status": "Reconciled",
        "source": "Purchasing",
        "billAmount": sum((i[2] * i[3] for i in items), Decimal(0)),
        "taxAmount": po["tax"],
        "shippingAmount": po["shipping"],
        "items": items,
        "expenseItems": [],
        "jobId": po["jobId"],
        "active": True,
    }


def ap_bills(rng: Dice, scale: int, first_id: int) -> list[Row]:
    bills: list[Row] = []
    active_vendors = [v for v in world.VENDORS if v.active]
    item_id = 5_000_000
    for start, end in (month_span(y, m) for y, m in months()):
        ndays = (end - start) // DAY
        for _ in range(AP_BILLS_PER_MONTH * scale):
            bill_date = start + rng.below(ndays) * DAY
            region = rng.pick(world.REGIONS)
            expense = []
            for _ in range(rng.between(1, 3)):
                item_id += 1
                amount = Decimal(rng.span(1500, 90000)) / 100
                expense.append(
                    (item_id, amount, rng.pick(EXPENSE_ACCOUNTS), "Fuel and fleet service")
                )
            bill_id = first_id + len(bills)
            bills.append(
                {
                    "id": bill_id,
                    "billType": "ApBill",
                    "purchaseOrderId": None,
                    "purchaseOrderNumber": None,
                    "purchaseOrderTypeId": None,
                    "vendorId": rng.pick(active_vendors).st_vendor_id,
                    "businessUnitId": region.st_business_unit_id,
                    "inventoryLocationId": None,
                    "referenceNumber": str(bill_id),
                    "vendorNumber": f"AP-{rng.span(100000, 999999)}",
                    "summary": "Monthly fleet expenses",
                    "billDate": bill_date,
                    "dueDate": bill_date + 30 * DAY,
                    "postDate": bill_date,
                    "createdOn": bill_date + 9 * HOUR,
                    "modifiedOn": bill_date + 10 * HOUR,
                    "syncStatus": "Posted",
                    "status": "Reconciled" if rng.random() < 0.7 else "Unreconciled",
                    "source": "Standalone",
                    "billAmount": sum((e[1] for e in expense), Decimal(0)),
                    "taxAmount": Decimal(0),
                    "shippingAmount": Decimal(0),
                    "items": [],
                    "expenseItems": expense,
                    "jobId": None,
                    "active": True,
                }
            )
    return bills
