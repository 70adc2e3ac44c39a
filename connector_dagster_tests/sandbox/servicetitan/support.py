"""Shared harness for the ServiceTitan simulator tests (no tests here): the
simulator served on loopback with an authenticated httpx client, and a webhook
receiver that records what it gets."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connector_dagster.sandbox import world
from connector_dagster.sandbox.faults import FaultProfile
from connector_dagster.sandbox.server import SandboxConfig, running
from connector_dagster.sandbox.servicetitan.app import create_app


def fetch_token(client: httpx.Client, config: SandboxConfig) -> str:
    response = client.post(
        "/connect/token",
        data={
            "grant_type": "client_credentials",
            "client_id": config.st_client_id,
            "client_secret": config.st_client_secret,
        },
    )
    response.raise_for_status()
    return response.json()["access_token"]


@dataclass
class StSandbox:
    """A running simulator and a client that speaks to it like a real integration."""

    config: SandboxConfig
    app: Starlette
    base_url: str
    client: httpx.Client
    token: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "ST-App-Key": self.config.st_app_key}

    def url(self, module: str, rest: str) -> str:
        return f"/{module}/v2/tenant/{self.config.st_tenant_id}/{rest}"

    def call(self, method: str, module: str, rest: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.request(method, self.url(module, rest), headers=headers, **kwargs)

    def get(self, module: str, rest: str, **params: Any) -> httpx.Response:
        return self.call("GET", module, rest, params=params)

    def ok(self, method: str, module: str, rest: str, **kwargs: Any) -> Any:
        """The JSON of a call that must answer 200."""
        response = self.call(method, module, rest, **kwargs)
        assert response.status_code == 200, response.text
        return response.json() if response.content else None

    def reset(self) -> StSandbox:
        """Back to the seed, no faults, no counted requests; tokens stay valid."""
        self.control("POST", "reset")
        self.control("PUT", "faults", {})
        self.control("DELETE", "requests")
        return self

    def control(self, method: str, path: str, body: Any = None) -> Any:
        response = self.client.request(method, f"/_sandbox/{path}", json=body)
        assert response.status_code < 300, response.text
        return response.json()


@contextmanager
def st_sandbox(profile: FaultProfile | None = None, **config: Any) -> Iterator[StSandbox]:
    """The simulator at seed 42, scale 1, without rate limit and with a clock that
    serves the whole seeded window, unless configured."""
    cfg = SandboxConfig(**{"st_rate_per_s": 0, "now": world.WINDOW_SETTLED, **config})
    app = create_app(cfg, profile or FaultProfile())
    with running(app) as base, httpx.Client(base_url=base, timeout=10) as client:
        sandbox = StSandbox(cfg, app, base, client)
        sandbox.token = fetch_token(client, cfg)
        yield sandbox


def new_po(**overrides: Any) -> dict[str, Any]:
    """A valid CreatePurchaseOrderRequest (North region, two lines)."""
    body = {
        "vendorId": 3101,
        "typeId": 12,
        "businessUnitId": 501,
        "inventoryLocationId": 77,
        "jobId": None,
        "shipTo": {
            "description": "North warehouse",
            "address": {
                "street": "100 Main St",
                "unit": "",
                "city": "Glendale",
                "state": "CA",
                "zip": "91203",
                "country": "USA",
            },
        },
        "vendorInvoiceNumber": "F-88812",
        "impactsTechnicianPayroll": False,
        "memo": "ERP PO 4500012345",
        "date": "2026-03-01T00:00:00Z",
        "requiredOn": "2026-03-05T00:00:00Z",
        "tax": 12.5,
        "shipping": 25.0,
        "items": [
            {
                "skuId": 55501,
                "description": "3/4in copper elbow",
                "vendorPartNumber": "CE-075",
                "quantity": 10,
                "cost": 2.35,
            },
            {
                "skuId": 55504,
                "description": "Ball valve 3/4in",
                "vendorPartNumber": "BV-075",
                "quantity": 2,
                "cost": 14.5,
            },
        ],
    }
    body.update(overrides)
    return body


@dataclass
class Receiver:
    """A webhook endpoint on loopback: records deliveries, answers from a script."""

    statuses: list[int] = field(default_factory=list)
    delay_s: float = 0.0
    received: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            body = await request.body()
            with self._lock:
                self.received.append({"headers": dict(request.headers), "body": body})
                status = self.statuses.pop(0) if self.statuses else 200
            if self.delay_s:
                time.sleep(self.delay_s)
            return Response(status_code=status)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.received)


@contextmanager
def receiver(statuses: list[int] | None = None, delay_s: float = 0.0) -> Iterator[Receiver]:
    rec = Receiver(statuses=list(statuses or []), delay_s=delay_s)
    with running(rec.app()) as base:
        rec.url = f"{base}/hook"
        yield rec


def wait_until(predicate: Callable[[], Any], timeout_s: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("condition not met in time")
