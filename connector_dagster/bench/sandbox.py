"""Benchmark of the simulators themselves: simple GETs per second on loopback.

The sandbox runs in its own process with latency, faults and rate limits off.
The load comes from keep-alive connections driven by asyncio with pre-built
request bytes: an httpx client in Python saturates long before the server.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from connector_dagster.sandbox.server import SandboxConfig, SandboxProcess

CONNECTIONS = 8
SECONDS = 3.0


async def _connection(host: str, port: int, request: bytes, until: float, out: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < until:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            out.append(int(head[9:12]))
    finally:
        writer.close()


async def _load(host: str, port: int, request: bytes, seconds: float) -> tuple[list[int], float]:
    statuses: list[int] = []
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(
        *(_connection(host, port, request, until, statuses) for _ in range(CONNECTIONS))
    )
    return statuses, time.perf_counter() - started


def _measure(base: str, path: str, headers: dict[str, str], seconds: float) -> dict[str, Any]:
    url = httpx.URL(base)
    lines = [f"GET {path} HTTP/1.1", f"Host: {url.host}:{url.port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    statuses, elapsed = asyncio.run(_load(url.host, url.port, request, seconds))
    return {
        "path": path,
        "requests": len(statuses),
        "non_200": sum(1 for s in statuses if s != 200),
        "wall_s": round(elapsed, 2),
        "achieved_rps": round(len(statuses) / elapsed, 1),
    }


def run(seconds: float = SECONDS) -> dict[str, Any]:
    """GETs by key on both simulators; one JSON-able result."""
    config = SandboxConfig(ifs_port=0, st_port=0, ifs_rate_per_min=0, st_rate_per_s=0)
    with SandboxProcess(config) as sandbox:
        ifs, st = sandbox.info["ifs"], sandbox.info["servicetitan"]
        ifs_token = httpx.post(
            ifs["token_url"],
            data={"grant_type": "client_credentials", "client_id": ifs["client_id"],
                  "client_secret": ifs["client_secret"]},
        ).json()["access_token"]  # fmt: skip
        st_token = httpx.post(
            st["auth_url"],
            data={"grant_type": "client_credentials", "client_id": st["client_id"],
                  "client_secret": st["client_secret"]},
        ).json()["access_token"]  # fmt: skip
        po = "/main/ifsapplications/projection/v1/PurchaseOrderHandling.svc/PurchaseOrderSet"
        results = {
            "ifs": _measure(
                ifs["base_url"],
                f"{po}(OrderNo='PO-2026-00042')",
                {"Authorization": f"Bearer {ifs_token}"},
                seconds,
            ),
            "servicetitan": _measure(
                st["api_url"],
                f"/inventory/v2/tenant/{st['tenant_id']}/purchase-orders/9000001",
                {"Authorization": f"Bearer {st_token}", "ST-App-Key": st["app_key"]},
                seconds,
            ),
        }
    floor = min(r["achieved_rps"] for r in results.values())
    return {"scenario": "sandbox-gets", "connections": CONNECTIONS, **results, "min_rps": floor}
