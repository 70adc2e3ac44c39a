"""ServiceTitan webhooks: CloudEvents 1.0 envelopes (`CloudEvent_Of_*` in the
specs), HMAC-SHA256 signed over the raw body, delivered in the background and
redelivered after a non-2xx answer or a connection error.

Each delivery attempt gets a new `id`; `userassignedid` names the occurrence
and stays the same across redeliveries, so receivers deduplicate on it. An emit
request may name the `userassignedid` (a known one redelivers that occurrence)
and sign with another header or encoding than configured."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass
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
ENCODINGS = ("hex", "base64")
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}")


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


@dataclass(frozen=True)
class Signing:
    """How a delivery is signed: the header and the encoding (hex or base64)."""

    header: str
    encoding: str


def signing_of(config: SandboxConfig, request: dict[str, Any]) -> Signing:
    """The configured signing, or the emit request's `signatureHeader` and
    `signatureEncoding`."""
    header = request.get("signatureHeader", config.webhook_signature_header)
    encoding = request.get("signatureEncoding", config.webhook_signature_encoding)
    if not isinstance(header, str) or not _TOKEN.fullmatch(header):
        raise ApiError(400, "Invalid signature header.", {"signatureHeader": [repr(header)]})
    if encoding not in ENCODINGS:
        raise ApiError(
            400, "Invalid signature encoding.", {"signatureEncoding": [f"One of {ENCODINGS}."]}
        )
    return Signing(header, encoding)


def occurrence_id(request: dict[str, Any]) -> str | None:
    """The emit request's `userassignedid`, if it names one."""
    uid = request.get("userassignedid")
    if uid is not None and (not isinstance(uid, str) or not 0 < len(uid.strip()) <= 200):
        raise ApiError(
            400, "Invalid userassignedid.", {"userassignedid": ["A string of 1 to 200 characters."]}
        )
    return uid


class Webhooks:
    """Emits events, keeps every occurrence for redelivery, and logs every attempt."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.deliveries: list[Row] = []
        self.occurrences: dict[str, Row] = {}
        self._tasks: set[asyncio.Task] = set()

    def emit(
        self,
        kind: str,
        data: Row,
        url: str | None = None,
        userassignedid: str | None = None,
        signing: Signing | None = None,
    ) -> Row:
        """Start delivering a new occurrence (named `userassignedid`, or a new
        uuid); returns at once."""
        uid = userassignedid or str(uuid.uuid4())
        self.occurrences[uid] = {
            "userassignedid": uid,
            "type": kind,
            "time": fmt_ts(now_us()),
            "data": data,
        }
        return self.redeliver(uid, url, signing)

    def redeliver(self, uid: str, url: str | None = None, signing: Signing | None = None) -> Row:
        """Deliver occurrence `uid` again, as ServiceTitan does on a retry or a
        replay from its portal: the same type, time, payload and
        `userassignedid`, a new delivery `id`."""
        target = url or self.config.webhook_url
        if not target:
            raise ApiError(400, "No webhook URL.", {"url": ["Set config.webhook_url or pass url."]})
        cfg = self.config
        signing = signing or Signing(cfg.webhook_signature_header, cfg.webhook_signature_encoding)
        occurrence = self.occurrences[uid]
        task = asyncio.get_running_loop().create_task(self._deliver(occurrence, target, signing))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return {k: occurrence[k] for k in ("userassignedid", "type", "time")} | {"url": target}

    def clear(self) -> None:
        for task in self._tasks:
            task.cancel()
        self.deliveries.clear()
        self.occurrences.clear()

    async def _deliver(self, occurrence: Row, target: str, signing: Signing) -> None:
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
                    "data": occurrence["data"],
                }
                body = dumps(envelope)
                headers = {
                    "Content-Type": "application/json",
                    signing.header: sign(body, cfg.webhook_key, signing.encoding),
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
