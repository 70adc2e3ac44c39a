"""Load test of the webhook receiver on loopback (`connector-dagster bench webhooks-load`).

The receiver runs in a child process (its own GIL) on a free port against
PostgreSQL (`CONNECTOR_DATABASE_URL`, else a throwaway server). Signed CloudEvents
deliveries are built and signed before the clock starts, a share of them repeating
an earlier occurrence with a new delivery `id` as ServiceTitan's retries do; they
are sent by concurrent keep-alive clients driven by asyncio with pre-built request
bytes. Afterwards the inbox is read back: every occurrence must be there exactly once.
"""

from __future__ import annotations

import asyncio
import json
import random
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

from connector_dagster.bench.database import bench_database, database_label
from connector_dagster.lib.settings import CONNECTIONS_FILE_VAR, DATABASE_URL_VAR, MASTER_KEY_VAR
from connector_dagster.lib.store import Store
from connector_dagster.sandbox.servicetitan.webhooks import SOURCE, sign
from connector_dagster.systems.vault import Vault, load_keys
from connector_dagster.webhooks.config import registration_url
from connector_dagster.webhooks.server import ReceiverProcess

TENANT_ID = 1234567
SIGNATURE_HEADER = "X-ST-Signature"


@dataclass(frozen=True)
class Delivery:
    occurrence_id: str
    request: bytes
    """The whole HTTP/1.1 request: head and signed body."""


@dataclass(frozen=True)
class Outcome:
    occurrence_id: str
    status: int | None
    """The receiver's answer; None when the connection failed before one came."""
    seconds: float


@dataclass(frozen=True)
class Setup:
    """A connection of its own in the database, with its key in the vault, and the
    environment a receiver process needs to serve it."""

    connection: str
    key: str
    env: dict[str, str]


@contextmanager
def prepared(url: str) -> Iterator[Setup]:
    """A fresh `bench_…` connection (connections file, master key, webhook key) whose
    rows are deleted again on exit."""
    connection = f"bench_{uuid.uuid4().hex[:10]}"
    master = Fernet.generate_key().decode()
    key = uuid.uuid4().hex + uuid.uuid4().hex[:16]
    with tempfile.TemporaryDirectory(prefix="webhooks-load-") as folder:
        path = Path(folder) / "connections.yaml"
        path.write_text(
            f"""connections:
  {connection}:
    mappings: mappings.yaml
    ifs: {{base_url: "http://127.0.0.1:9", realm: bench, company: BENCH}}
    servicetitan:
      api_url: "http://127.0.0.1:9"
      auth_url: "http://127.0.0.1:9/connect/token"
      tenant_id: "{TENANT_ID}"
"""
        )
        with closing(Store(url, max_connections=1)) as store:
            Vault(store, load_keys(master)).set(connection, "servicetitan", "webhook_key", key)
            env = {DATABASE_URL_VAR: url, MASTER_KEY_VAR: master, CONNECTIONS_FILE_VAR: str(path)}
            try:
                yield Setup(connection, key, env)
            finally:
                with store.cursor() as cur:
                    for table in ("webhook_inbox", "webhook_refusals", "credentials"):
                        cur.execute(
                            f"DELETE FROM connector.{table} WHERE connection = %s",  # noqa: S608
                            (connection,),
                        )


def build_deliveries(
    url: str, key: str, events: int, duplicate_share: float, seed: int = 7
) -> list[Delivery]:
    """`events` signed deliveries to `url`, `duplicate_share` of them repeating an
    earlier occurrence (new delivery id, same `userassignedid`), in random order."""
    rng = random.Random(seed)
    distinct = events - round(events * duplicate_share)
    occurrences = [f"load-{seed}-{uuid.uuid4().hex[:12]}-{i}" for i in range(distinct)]
    picks = occurrences + rng.choices(occurrences, k=events - distinct)
    rng.shuffle(picks)
    parts = urlsplit(url)
    invoice_ids = {uid: 77_000_000 + i for i, uid in enumerate(occurrences)}
    result = []
    for uid in picks:
        body = json.dumps(_envelope(uid, invoice_ids[uid]), separators=(",", ":")).encode()
        head = (
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"{SIGNATURE_HEADER}: {sign(body, key, 'hex')}\r\n\r\n"
        )
        result.append(Delivery(uid, head.encode() + body))
    return result


def _envelope(occurrence_id: str, invoice_id: int) -> dict[str, Any]:
    """A `tn.acc.invoice-posted` event shaped like ServiceTitan's (header only), dated
    now (the receiver refuses events outside its window)."""
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "type": "tn.acc.invoice-posted",
        "time": f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%S.%fZ}",
        "source": SOURCE,
        "userassignedid": occurrence_id,
        "datacontenttype": "application/json",
        "data": {
            "invoice": {
                "id": invoice_id,
                "syncStatus": "Posted",
                "referenceNumber": f"INV-{invoice_id}",
                "invoiceDate": "2026-11-02T00:00:00Z",
                "dueDate": "2026-12-02T00:00:00Z",
                "subTotal": "250.00",
                "salesTax": "23.13",
                "total": "273.13",
                "balance": "273.13",
                "customer": {"id": 4100123, "name": "Load Test Customer"},
                "location": {"id": 4200123, "name": "Load Test Site"},
                "businessUnit": {"id": 1001, "name": "HVAC Service - North"},
                "job": {"id": 88000123, "number": "88000123", "type": "Service"},
                "createdOn": "2026-11-02T18:02:11.120000Z",
                "modifiedOn": "2026-11-02T19:10:05.482113Z",
                "sentStatus": "NotSent",
                "reviewStatus": "NeedsReview",
                "summary": "Replaced condenser fan motor",
                "active": True,
            },
            "tenantId": TENANT_ID,
            "tenantName": "Acme Mechanical",
        },
    }


def send(base_url: str, deliveries: list[Delivery], clients: int) -> tuple[list[Outcome], float]:
    """Send every delivery over `clients` keep-alive connections; the outcomes and
    the wall time. A failed connection is retried for the next delivery."""
    parts = urlsplit(base_url)
    return asyncio.run(_send(parts.hostname or "127.0.0.1", parts.port or 80, deliveries, clients))


async def _send(
    host: str, port: int, deliveries: list[Delivery], clients: int
) -> tuple[list[Outcome], float]:
    todo = iter(deliveries)
    outcomes: list[Outcome] = []
    started = time.perf_counter()
    await asyncio.gather(*(_client(host, port, todo, outcomes) for _ in range(clients)))
    return outcomes, time.perf_counter() - started


async def _client(host: str, port: int, todo: Iterator[Delivery], outcomes: list[Outcome]) -> None:
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    for delivery in todo:
        began = time.perf_counter()
        status = None
        try:
            if connection is None:
                connection = await asyncio.open_connection(host, port)
            reader, writer = connection
            writer.write(delivery.request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            status = int(head[9:12])
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            if connection is not None:
                connection[1].close()
            connection = None
        outcomes.append(Outcome(delivery.occurrence_id, status, time.perf_counter() - began))
    if connection is not None:
        connection[1].close()


def inbox_counts(url: str, connection: str) -> Counter[str]:
    """How many inbox rows each occurrence of `connection` has."""
    with closing(Store(url, max_connections=1)) as store, store.cursor() as cur:
        cur.execute(
            "SELECT occurrence_id FROM connector.webhook_inbox WHERE connection = %s",
            (connection,),
        )
        return Counter(row[0] for row in cur.fetchall())


def load(url: str, events: int, clients: int, duplicate_share: float = 0.1) -> dict[str, Any]:
    """Load a receiver process on database `url`, then check the inbox; the figures."""
    with prepared(url) as setup, ReceiverProcess(setup.env) as receiver:
        target = registration_url(receiver.info["url"], setup.connection)
        deliveries = build_deliveries(target, setup.key, events, duplicate_share)
        outcomes, wall = send(receiver.info["url"], deliveries, clients)
        stored = inbox_counts(url, setup.connection)
    expected = {d.occurrence_id for d in deliveries}
    latencies = sorted(o.seconds for o in outcomes)
    statuses = Counter(str(o.status) for o in outcomes)
    return {
        "events": len(deliveries),
        "distinct": len(expected),
        "clients": clients,
        "statuses": dict(sorted(statuses.items())),
        "answered_5xx": sum(1 for o in outcomes if o.status is not None and o.status >= 500),
        "unanswered": statuses.get("None", 0),
        "inbox_rows": sum(stored.values()),
        "missing": len(expected - set(stored)),
        "doubled": sum(1 for n in stored.values() if n > 1),
        "wall_s": round(wall, 2),
        "events_per_s": round(len(outcomes) / wall, 1),
        "p50_ms": round(_percentile(latencies, 0.50) * 1000, 1),
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 1),
        "max_ms": round(latencies[-1] * 1000, 1),
    }


def _percentile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run(events: int = 10_000, clients: int = 50) -> dict[str, Any]:
    """The `webhooks-load` scenario; one JSON-able result."""
    with bench_database() as url:
        result = load(url, events, clients)
        return {"scenario": "webhooks-load", "database": database_label(url), **result}
