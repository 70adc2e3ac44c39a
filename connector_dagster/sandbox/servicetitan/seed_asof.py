"""The ServiceTitan seed as of the sandbox's clock: a record created after it is left
out, and what would happen to a record after it has not happened yet (a receipt,
a payment, a later edit), so no timestamp is later than the clock. Due and
required dates are plans and may lie beyond it. Times in microseconds (UTC)."""

from __future__ import annotations

from decimal import Decimal

from connector_dagster.sandbox.servicetitan.common import Row


def as_of(
    until: int,
    invoices: list[Row],
    jobs: list[Row],
    pos: list[Row],
    inventory_bills: list[Row],
    ap_bills: list[Row],
) -> tuple[list[Row], list[Row], list[Row], list[Row], list[Row]]:
    """The seeded rows that exist at `until`, changed to what they were then."""
    invoices = [_invoice(row, until) for row in invoices if row["createdOn"] <= until]
    invoiced = {row["id"] for row in invoices}
    jobs = [_job(row, until) for row in jobs if row["invoiceId"] in invoiced]
    job_ids = {row["id"] for row in jobs}
    pos = [_po(row, until, job_ids) for row in pos if row["createdOn"] <= until]
    inventory_bills = [
        _bill(row, until, job_ids) for row in inventory_bills if row["createdOn"] <= until
    ]
    ap_bills = [_bill(row, until, job_ids) for row in ap_bills if row["createdOn"] <= until]
    return invoices, jobs, pos, inventory_bills, ap_bills


def _invoice(invoice: Row, until: int) -> Row:
    """Not paid yet, nor edited since it was created, if that came after `until`."""
    if invoice["paidOn"] is not None and invoice["paidOn"] > until:
        invoice["paidOn"] = None
        invoice["balance"] = invoice["total"]
    if invoice["modifiedOn"] > until:
        invoice["modifiedOn"] = invoice["createdOn"]
    return invoice


def _job(job: Row, until: int) -> Row:
    """Seeded only with its invoice, so completed by `until`; later edits undone."""
    if job["modifiedOn"] > until:
        job["modifiedOn"] = job["completedOn"]
    return job


def _po(po: Row, until: int, job_ids: set[int]) -> Row:
    """Received, then sent (or cancelled), only if that happened by `until`."""
    if po["receivedOn"] is not None and po["receivedOn"] > until:
        po.update(status="Sent", receivedOn=None, vendorDocumentNumber="")
        for item in po["items"]:
            item.update(quantityReceived=Decimal(0), status="Pending")
    if po["sentOn"] is not None and po["sentOn"] > until:
        po.update(status="Pending", sentOn=None, canceledReason=None)
        for item in po["items"]:
            item["status"] = "Pending"
    po["modifiedOn"] = po["receivedOn"] or po["sentOn"] or po["createdOn"]
    if po["jobId"] not in job_ids:
        po["jobId"] = None
    return po


def _bill(bill: Row, until: int, job_ids: set[int]) -> Row:
    if bill["modifiedOn"] > until:
        bill["modifiedOn"] = bill["createdOn"]
    if bill["jobId"] not in job_ids:
        bill["jobId"] = None
    return bill
