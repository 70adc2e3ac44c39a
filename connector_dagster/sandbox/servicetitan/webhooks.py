"""ServiceTitan webhooks: CloudEvents 1.0 envelopes (`CloudEvent_Of_*` in the
specs), HMAC-SHA256 signed over the raw body, delivered in the background and
redelivered after a non-2xx answer or a connection error.

Each delivery attempt gets a new `id`; `userassignedid` names the occurrence
and stays the same across redeliveries, so receivers deduplicate on it."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import uuid
from typing import Any

import httpx

from connector_dagster.sandbox import world
from connector_dagster.sandbox.config import SandboxConfig
from connector_dagster.sandbox.servicetitan.accounting import event_invoice
from connector_dagster.sandbox.servicetitan.common import ApiError, Row, dumps, fmt_ts, now_us
from connector_dagster.sandbox.servicetitan.jpm import APPOINTMENT_OFFSET, event_job
from connector_dagster.sandbox.servicetitan.store import Store

SOURCE = "https://webhooks.servicetitan.io"
INVOICE_EVENTS = tuple(f"tn.acc.invoice-{e}" for e in ("batched", "exported", "posted", "updated"))
JOB_EVENTS = tuple(
    f"tn.jpm.job-{e}"
    for e in ("completed", "updated", "scheduled", "rescheduled", "appointment-updated")
)
DELIVERY_TIMEOUT_S = 10.0


def sign(body: bytes, key: str, encoding: str) -> str:
    """HMAC-SHA256 of the raw body, hex or base64."""
    digest = hmac.new(key.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode() if encoding == "base64" else digest.hex()


def event_data(store: Store, request: dict[str, Any], tenant_id: int) -> tuple[str, Row]:
    """The event type and `data` of an emit request such as
    `{"type": "tn.acc.invoice-posted", "invoiceId": 77000123}` or
    `{"type": "tn.jpm.job-completed", "jobId": 88000001}`."""
    kind = request.get("type")
    tenant = {"tenantId": tenant_id, "tenantName": world.TENANT_NAME}
    if kind in INVOICE_EVENTS:
        invoice = store.tables["invoices"].get(request.get("invoiceId"))
        if invoice is None:
            raise ApiError(400, "Unknown invoice.", {"invoiceId": [str(request.get("invoiceId"))]})
        return kind, {"invoice": event_invoice(invoice, store), **tenant}
    if kind in JOB_EVENTS:
        job = store.tables["jobs"].get(request.get("jobId"))
        if job is None:
            raise ApiError(400, "Unknown job.", {"jobId": [str(request.get("jobId"))]})
        appointment = job["id"] + APPOINTMENT_OFFSET
        if kind == "tn.jpm.job-appointment-updated":
            return kind, {"appointment": _appointment(job, appointment), **tenant}
        data: Row = {
            "job": event_job(job),
            "manageEmployeeEmail": False,
            "manageFollowUpEmail": False,
        }
        if kind == "tn.jpm.job-rescheduled":
            data.update(appointmentId=appointment, appointmentNumber=f"{job['id']}-1")
        return kind, {**data, **tenant}
    raise ApiError(
        400,
        "Unsupported event type.",
        {"type": [f"'{kind}' is not one of {', '.join(INVOICE_EVENTS + JOB_EVENTS)}."]},
    )


def _appointment(job: Row, appointment: int) -> Row:
    start = job["completedOn"] - 2 * 3_600_000_000
    return {
        "id": appointment,
        "jobId": job["id"],
        "appointmentNumber": f"{job['id']}-1",
        "start": fmt_ts(start),
        "end": fmt_ts(job["completedOn"]),
        "arrivalWindowStart": fmt_ts(start),
        "arrivalWindowEnd": fmt_ts(start + 3_600_000_000),
        "status": "Done" if job["jobStatus"] == "Completed" else "Scheduled",
        "specialInstructions": None,
        "createdOn": fmt_ts(job["createdOn"]),
        "modifiedOn": fmt_ts(job["modifiedOn"]),
        "customerId": job["customerId"],
        "unused": False,
        "createdById": 10,
        "isConfirmed": True,
        "active": True,
    }


class Webhooks:
    """Emits events and keeps a log of every delivery attempt."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.deliveries: list[Row] = []
        self._tasks: set[asyncio.Task] = set()

    def emit(self, kind: str, data: Row, url: str | None = None) -> Row:
        """Start delivering one occurrence; returns at once."""
        target = url or self.config.webhook_url
        if not target:
            raise ApiError(400, "No webhook URL.", {"url": ["Set config.webhook_url or pass url."]})
        occurrence = {"userassignedid": str(uuid.uuid4()), "type": kind, "time": fmt_ts(now_us())}
        task = asyncio.get_running_loop().create_task(self._deliver(occurrence, data, target))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return {**occurrence, "url": target}

    def clear(self) -> None:
        for task in self._tasks:
            task.cancel()
        self.deliveries.clear()

    async def _deliver(self, occurrence: Row, data: Row, target: str) -> None:
        cfg = self.config
        delays = (0.0, *cfg.webhook_retry_delays_s)
        async with httpx.AsyncClient(timeout=DELIVERY_TIMEOUT_S) as client:
            for attempt, delay in enumerate(delays, 1):
                if delay:
                    await asyncio.sleep(delay * cfg.webhook_time_scale)
                envelope = {
                    "specversion": "1.0",
                    "id": str(uuid.uuid4()),
                    "type": occurrence["type"],
                    "time": occurrence["time"],
                    "source": SOURCE,
                    "userassignedid": occurrence["userassignedid"],
                    "datacontenttype": "application/json",
                    "data": data,
                }
                body = dumps(envelope)
                headers = {
                    "Content-Type": "application/json",
                    cfg.webhook_signature_header: sign(
                        body, cfg.webhook_key, cfg.webhook_signature_encoding
                    ),
                }
                record: Row = {
                    "userassignedid": occurrence["userassignedid"],
                    "id": envelope["id"],
                    "type": occurrence["type"],
                    "url": target,
                    "attempt": attempt,
                    "at": fmt_ts(now_us()),
                    "status": None,
                    "error": None,
                }
                try:
                    response = await client.post(target, content=body, headers=headers)
                    record["status"] = response.status_code
                except httpx.HTTPError as exc:
                    record["error"] = f"{type(exc).__name__}: {exc}"
                delivered = record["status"] is not None and 200 <= record["status"] < 300
                record["delivered"] = delivered
                record["willRetry"] = not delivered and attempt < len(delays)
                record["event"] = envelope
                self.deliveries.append(record)
                if delivered:
                    return
