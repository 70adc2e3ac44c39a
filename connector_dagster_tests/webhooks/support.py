"""Helpers of the receiver's tests: a receiver on a free port in this process for the
`sandbox` connection (settings of its `servicetitan.webhooks` block given per test),
signed envelopes, the sandbox's emit and deliveries log, and the inbox read back."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from connector_dagster.lib.store import Store
from connector_dagster.sandbox.servicetitan.webhooks import SOURCE, sign
from connector_dagster.webhooks.config import load_config
from connector_dagster.webhooks.health import WebhookHealth, health
from connector_dagster.webhooks.server import running

TENANT = 1234567


@contextmanager
def receiver(**webhooks: Any) -> Iterator[str]:
    """The receiver in a thread; `webhooks` become the sandbox connection's
    `servicetitan.webhooks` block. Yields the sandbox endpoint's URL."""
    if webhooks:
        path = os.environ["CONNECTOR_CONNECTIONS_FILE"]
        with open(path, "a", encoding="utf-8") as file:
            file.write(f"      webhooks: {json.dumps(webhooks)}\n")
    store = Store(os.environ["CONNECTOR_DATABASE_URL"])
    with running(load_config(), store) as base:
        yield f"{base}/webhooks/sandbox"


def envelope(
    occurrence: str | None = None,
    kind: str = "tn.acc.invoice-posted",
    tenant: Any = TENANT,
    age: timedelta = timedelta(seconds=3),
) -> dict[str, Any]:
    """A signed-to-be invoice event that occurred `age` ago (negative: ahead)."""
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "type": kind,
        "time": f"{datetime.now(UTC) - age:%Y-%m-%dT%H:%M:%S.%fZ}",
        "source": SOURCE,
        "userassignedid": occurrence or str(uuid.uuid4()),
        "datacontenttype": "application/json",
        "data": {
            "invoice": {"id": 77000001, "total": "273.13", "summary": "Secret summary 9Q7"},
            "tenantId": tenant,
            "tenantName": "Acme Mechanical",
        },
    }


def post(
    url: str,
    body: bytes | dict[str, Any],
    key: str | None,
    encoding: str = "hex",
    header: str = "X-ST-Signature",
    content_type: str = "application/json",
) -> httpx.Response:
    """POST `body` signed with `key` (unsigned when None)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": content_type}
    if key is not None:
        headers[header] = sign(raw, key, encoding)
    return httpx.post(url, content=raw, headers=headers, timeout=10)


def emit(st_api: str, url: str, **request: Any) -> dict[str, Any]:
    """Ask the ServiceTitan simulator to deliver an event to `url`."""
    response = httpx.post(
        f"{st_api}/_sandbox/webhooks/emit", json={"url": url, **request}, timeout=10
    )
    assert response.status_code == 202, response.text
    return response.json()


def answered(st_api: str, occurrence: str, count: int = 1) -> list[dict[str, Any]]:
    """The sandbox's first `count` delivery attempts of `occurrence`, once answered."""

    def attempts() -> list[dict[str, Any]]:
        rows = httpx.get(
            f"{st_api}/_sandbox/webhooks/deliveries",
            params={"userassignedid": occurrence},
            timeout=10,
        ).json()
        return rows if len(rows) >= count else []

    return wait_until(attempts)[:count]


def inbox_rows(connection: str = "sandbox") -> list[dict[str, Any]]:
    with closing(Store(os.environ["CONNECTOR_DATABASE_URL"], 1)) as store, store.cursor() as cur:
        cur.execute(
            """SELECT occurrence_id, delivery_id, event_type, deliveries, body
               FROM connector.webhook_inbox WHERE connection = %s ORDER BY id""",
            (connection,),
        )
        names = [c.name for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def health_of(connection: str = "sandbox") -> WebhookHealth:
    with closing(Store(os.environ["CONNECTOR_DATABASE_URL"], 1)) as store:
        return health(store, [connection])[0]


def wait_until(predicate: Callable[[], Any], timeout_s: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")
