"""F3's source: a period's ServiceTitan invoices (by invoice date, inactive ones too,
with their items), the jobs they name (≤ 50 ids a call), which invoices changed since
they were read, and which periods have changes since a `modifiedOn` cursor (the
posting kit's `modified_since`)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import pandas as pd

from connector_dagster.defs.invoices.settings import InvoiceSettings
from connector_dagster.engine.periods import period_key
from connector_dagster.engine.records import Changes, Frames, Item, Period, Read
from connector_dagster.kits.postings.source import (
    ServiceTitanDocuments,
    frame,
    modified_since,
    period_frame,
    records,
)

INVOICES = "servicetitan_invoices"
JOBS = "servicetitan_jobs"
INVOICE_FIELDS = ["id", "number", "invoiceDate", "syncStatus", "active", "exportId",
                  "businessUnitId", "taxZoneId", "customerName", "summary", "subTotal",
                  "salesTax", "total", "jobId", "adjustmentToId", "modifiedOn"]  # fmt: skip
ITEM_FIELDS = ["invoiceId", "id", "order", "skuName", "description", "type", "quantity",
               "price", "total", "glAccountId", "glAccountNumber", "glAccountName"]  # fmt: skip
JOB_FIELDS = ["id", "jobNumber", "jobTypeId", "businessUnitId", "invoiceId", "modifiedOn"]
ALL = {"activeState": "All"}
"""Inactive invoices too: the API's default leaves them out silently."""


class ServiceTitanInvoices(ServiceTitanDocuments[InvoiceSettings]):
    """ServiceTitan invoices and their jobs as F3's source."""

    def read(self, name: str, period: Period, upstream: Mapping[str, Frames]) -> Read:
        if name == JOBS:
            return self._jobs(upstream[INVOICES])
        return self._invoices(period)

    def _invoices(self, period: Period) -> Read:
        """Invoices whose invoice date lies in the period, every state, with their items."""
        params = {
            **ALL,
            "invoicedOnOrAfter": f"{period.start.isoformat()}T00:00:00Z",
            "invoicedOnBefore": f"{period.end.isoformat()}T00:00:00Z",
        }
        heads: list[dict[str, Any]] = []
        items: list[dict[str, Any]] = []
        for invoice in self.st.iter_pages("accounting", "invoices", params):
            heads.append(_head(invoice))
            items.extend(_item(invoice["id"], item) for item in invoice.get("items") or [])
        frames = {
            "invoices": frame(heads, INVOICE_FIELDS),
            "items": frame(items, ITEM_FIELDS),
            "period": period_frame(period),
        }
        return Read(
            frames,
            versions=[(str(h["id"]), h["modifiedOn"]) for h in heads],
            metadata={
                "invoices": len(heads),
                "items": len(items),
                "inactive": sum(1 for h in heads if not h["active"]),
                "by_sync_status": dict(Counter(h["syncStatus"] for h in heads)),
            },
        )

    def _jobs(self, invoices: Frames) -> Read:
        """The jobs the period's invoices name, asked for 50 ids at a time (calls in
        parallel)."""
        ids = sorted({int(i) for i in invoices["invoices"]["jobId"] if pd.notna(i)})
        step = self.st.settings.ids_per_call
        chunks = [ids[i : i + step] for i in range(0, len(ids), step)]
        found = self.st.map_concurrent(lambda c: self.st.get_by_ids("jpm", "jobs", c), chunks)
        jobs = [
            {**job, "jobNumber": job.get("jobNumber") or str(job["id"])}
            for chunk in found
            for job in chunk
        ]
        return Read(
            {"jobs": frame(jobs, JOB_FIELDS)},
            metadata={"jobs": len(jobs), "named": len(ids), "missing": len(ids) - len(jobs)},
        )

    def items(self, reads: Mapping[str, Frames]) -> list[Item]:
        invoices = reads[INVOICES]
        [period] = records(invoices["period"])
        lines: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        for row in records(invoices["items"]):
            lines[int(row["invoiceId"])].append(row)
        jobs = {int(j["id"]): j for j in records(reads[JOBS]["jobs"])} if JOBS in reads else {}
        result = []
        for head in records(invoices["invoices"]):
            job_id = head.get("jobId")
            data = {
                "invoice": head,
                "items": lines.get(int(head["id"]), []),
                "job": jobs.get(int(job_id)) if job_id is not None else None,
                "period": period,
            }
            result.append(Item(str(head["id"]), head["modifiedOn"], data))
        return result

    def changed(self, versions: Mapping[str, str | None]) -> set[str]:
        """Invoices modified since the version read, or gone."""
        current = {
            str(row["id"]): row.get("modifiedOn")
            for row in self.st.get_by_ids("accounting", "invoices", map(int, versions), ALL)
        }
        return {k for k, v in versions.items() if current.get(k) != v}

    def changes(self, cursor: str | None) -> Changes:
        return modified_since(self.st, "invoices", ALL, cursor, "invoiceDate")

    def event_periods(self, events: Sequence[Any]) -> dict[int, set[str]]:
        """The periods webhook events touch: an invoice event, its invoice's (the event
        carries the header only; an invoice without its date is read); a job event,
        those of the job's invoices (read, by job, in one call each)."""
        periods: dict[int, set[str]] = {}
        unknown: dict[int, int] = {}
        for event in events:
            data = (event.body or {}).get("data") or {}
            invoice, job = data.get("invoice") or {}, data.get("job") or {}
            if invoice.get("invoiceDate"):
                periods[event.id] = {period_key(_day(invoice["invoiceDate"]))}
            elif invoice.get("id"):
                unknown[event.id] = int(invoice["id"])
            elif job.get("id"):
                rows = self.st.iter_pages("accounting", "invoices", {**ALL, "jobId": job["id"]})
                days = {_day(r["invoiceDate"]) for r in rows if r.get("invoiceDate")}
                periods[event.id] = {period_key(d) for d in days}
            else:
                periods[event.id] = set()
        if unknown:
            dates = {
                int(r["id"]): r.get("invoiceDate")
                for r in self.st.get_by_ids("accounting", "invoices", set(unknown.values()), ALL)
            }
            for event_id, invoice_id in unknown.items():
                day = dates.get(invoice_id)
                periods[event_id] = {period_key(_day(day))} if day else set()
        return periods


def _day(text: Any) -> date:
    return date.fromisoformat(str(text)[:10])


def _head(invoice: dict[str, Any]) -> dict[str, Any]:
    return {
        **{f: invoice.get(f) for f in INVOICE_FIELDS},
        "number": invoice.get("referenceNumber") or str(invoice["id"]),
        "invoiceDate": str(invoice.get("invoiceDate") or "")[:10] or None,
        "businessUnitId": (invoice.get("businessUnit") or {}).get("id"),
        "taxZoneId": invoice.get("taxZoneId") or (invoice.get("salesTaxCode") or {}).get("id"),
        "customerName": (invoice.get("customer") or {}).get("name"),
        "jobId": (invoice.get("job") or {}).get("id"),
    }


def _item(invoice_id: Any, item: dict[str, Any]) -> dict[str, Any]:
    account = item.get("generalLedgerAccount") or {}
    return {
        **{f: item.get(f) for f in ITEM_FIELDS},
        "invoiceId": invoice_id,
        "glAccountId": account.get("id"),
        "glAccountNumber": account.get("number"),
        "glAccountName": account.get("name"),
    }
