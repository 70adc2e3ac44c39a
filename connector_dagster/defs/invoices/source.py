"""F3's source: a period's ServiceTitan invoices (by invoice date, inactive ones too,
with their items), the jobs they name (by id, or the jobs completed in the period
when that takes fewer requests), which invoices changed since
they were read, and which periods have changes since a `modifiedOn` cursor (the
posting kit's `modified_since`)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from connector_dagster.defs.invoices.settings import InvoiceSettings
from connector_dagster.engine.periods import period_key
from connector_dagster.engine.records import Changes, Frames, Item, Period, Read
from connector_dagster.kits.postings.source import (
    ServiceTitanDocuments,
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
_SHARED = frozenset(("invoiceDate", "syncStatus", "businessUnitId", "taxZoneId",
                     "customerName", "summary", "skuName", "description", "type",
                     "quantity", "price", "total", "glAccountId", "glAccountNumber",
                     "glAccountName"))  # fmt: skip
"""Fields whose values repeat across many rows: one object per distinct text or integer
(only those: 1, 1.0 and True are equal keys, and the value read must be kept as read)."""
PAGE_WORKERS = 4
"""Pages of invoices read at once: each is a page of invoices with their items, whose
JSON is held until it is turned into columns, and the simulator, like a busy API,
answers no faster for more."""
BY_ID_MAX = 100
"""Named jobs read by id at most (2 calls); more are read by the period's list."""
JOB_PAGE = 5000
"""Jobs per page of the list (ServiceTitan's largest page)."""
JOB_PAGE_WORKERS = 2
"""Pages of jobs read at once: each answer is up to 5,000 jobs of JSON."""


class ServiceTitanInvoices(ServiceTitanDocuments[InvoiceSettings]):
    """ServiceTitan invoices and their jobs as F3's source."""

    def read(self, name: str, period: Period, upstream: Mapping[str, Frames]) -> Read:
        if name == JOBS:
            return self._jobs(upstream[INVOICES])
        return self._invoices(period)

    def _invoices(self, period: Period) -> Read:
        """Invoices whose invoice date lies in the period, every state, with their items.

        The pages are read concurrently (`map_pages`), each turned into columns of
        values as it arrives (repeated text shared), so that a period of 100,000
        invoices never holds its answers' JSON or a dict per row all at once."""
        params = {
            **ALL,
            "invoicedOnOrAfter": f"{period.start.isoformat()}T00:00:00Z",
            "invoicedOnBefore": f"{period.end.isoformat()}T00:00:00Z",
        }
        shared: dict[str, dict[Any, Any]] = {f: {} for f in _SHARED}
        pages = self.st.map_pages(
            "accounting", "invoices", params, lambda rows: _invoice_columns(rows, shared),
            workers=PAGE_WORKERS,
        )  # fmt: skip
        heads = _frame([h for h, _ in pages], INVOICE_FIELDS)
        items = _frame([i for _, i in pages], ITEM_FIELDS)
        del pages
        shared.clear()
        frames = {"invoices": heads, "items": items, "period": period_frame(period)}
        return Read(
            frames,
            versions=list(zip(map(str, heads["id"]), heads["modifiedOn"], strict=True)),
            metadata={
                "invoices": len(heads),
                "items": len(items),
                "inactive": sum(1 for a in heads["active"] if not a),
                "by_sync_status": dict(Counter(heads["syncStatus"])),
            },
        )

    def _jobs(self, invoices: Frames) -> Read:
        """The jobs the period's invoices name, by whichever path takes fewer requests.

        By id, `n` named jobs cost ceil(n / 50) calls (ServiceTitan's `ids` cap). The
        jobs list filtered to those completed in the period (an invoice is dated the
        day its job was completed) costs ceil(m / JOB_PAGE) calls for its m jobs, m
        close to n, plus the named jobs it does not hold (an adjustment's job, one
        completed the month before) by id. So by id while n <= BY_ID_MAX, where
        ceil(n / 50) <= 2 and the list, one call at least and its misses another,
        saves nothing; the list above that: 109,000 jobs in 22 calls where ids take
        2,180. ServiceTitan's export feed of jobs has no end date: from the period's
        start it reads every job changed since, later months' too, in batches no
        larger than the list's pages, so it never takes fewer requests than the
        list. The list's pages are read concurrently (`map_pages`), two at a time
        (each is up to 5,000 jobs)."""
        ids = sorted({int(i) for i in invoices["invoices"]["jobId"] if pd.notna(i)})
        named = len(ids)
        [period] = records(invoices["period"])
        found: list[dict[str, list[Any]]] = []
        listed = 0
        path = "list" if named > BY_ID_MAX else "by_id"
        if path == "list":
            wanted = set(ids)
            params = {
                "completedOnOrAfter": f"{period['start']}T00:00:00Z",
                "completedBefore": f"{period['end']}T00:00:00Z",
            }
            found = self.st.map_pages(
                "jpm", "jobs", params, lambda rows: _job_columns(rows, wanted),
                page_size=JOB_PAGE, workers=JOB_PAGE_WORKERS,
            )  # fmt: skip
            listed = sum(len(c["id"]) for c in found)
            held = {i for c in found for i in c["id"]}
            ids = [i for i in ids if i not in held]
        step = self.st.settings.ids_per_call
        chunks = [ids[i : i + step] for i in range(0, len(ids), step)]
        found += self.st.map_concurrent(
            lambda c: _job_columns(self.st.get_by_ids("jpm", "jobs", c), None), chunks
        )
        jobs = _frame(found, JOB_FIELDS)
        return Read(
            {"jobs": jobs},
            metadata={
                "jobs": len(jobs),
                "named": named,
                "missing": named - len(jobs),
                "path": path,
                "from_list": listed,
                "by_id": len(ids),
            },
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


def _invoice_columns(
    rows: list[dict[str, Any]], shared: dict[str, dict[Any, Any]]
) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """A page of invoices as columns of header and item values (see `_head`, `_item`),
    the values of the fields in `shared` that repeat across rows (statuses, names,
    accounts) one object each."""
    heads: dict[str, list[Any]] = {f: [] for f in INVOICE_FIELDS}
    items: dict[str, list[Any]] = {f: [] for f in ITEM_FIELDS}
    for invoice in rows:
        head = _head(invoice)
        for f in INVOICE_FIELDS:
            value = head[f]
            heads[f].append(_one(shared, f, value))
        for item in invoice.get("items") or []:
            line = _item(head["id"], item)
            for f in ITEM_FIELDS:
                value = line[f]
                items[f].append(_one(shared, f, value))
    return heads, items


def _one(shared: dict[str, dict[Any, Any]], field: str, value: Any) -> Any:
    """`value`, or the equal text or integer already kept for `field` (of the very same
    type: never True for 1, nor 1 for 1.0)."""
    if type(value) not in (str, int) or field not in shared:
        return value
    return shared[field].setdefault(value, value)


def _job_columns(rows: list[dict[str, Any]], wanted: set[int] | None) -> dict[str, list[Any]]:
    """Jobs as columns of JOB_FIELDS (a job's number defaults to its id), only those in
    `wanted` (None: all)."""
    jobs: dict[str, list[Any]] = {f: [] for f in JOB_FIELDS}
    for job in rows:
        if wanted is not None and job.get("id") not in wanted:
            continue
        for f in JOB_FIELDS:
            jobs[f].append(job.get(f))
        if not jobs["jobNumber"][-1]:
            jobs["jobNumber"][-1] = str(job["id"])
    return jobs


def _frame(parts: list[dict[str, list[Any]]], fields: list[str]) -> pd.DataFrame:
    """One frame of the columns of pages, one after the other, a row repeated across
    pages (a list that changed while it was read) kept once, the first time. The
    values go straight into the frame's one block of objects, each page's columns let
    go once copied: no column is held twice but for one page's."""
    seen: set[Any] = set()
    keep: list[list[int] | None] = []  # per page: the rows to keep (None: all)
    for part in parts:
        ids = part["id"]
        fresh = [n for n, key in enumerate(ids) if key is None or key not in seen]
        seen.update(ids)
        keep.append(None if len(fresh) == len(ids) else fresh)
    size = sum(len(p["id"]) if k is None else len(k) for p, k in zip(parts, keep, strict=True))
    block = np.empty((size, len(fields)), dtype=object)
    start = 0
    for part, rows in zip(parts, keep, strict=True):
        end = start + (len(part["id"]) if rows is None else len(rows))
        for column, field in enumerate(fields):
            values = part[field]
            block[start:end, column] = values if rows is None else [values[n] for n in rows]
        part.clear()
        start = end
    return pd.DataFrame(block, columns=fields, dtype=object, copy=False)


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
