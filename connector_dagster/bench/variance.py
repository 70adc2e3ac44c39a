"""`variance`: the AP and inventory variance report of a period at `--scale 10` (or the
scale that seeds at least N bills a month, 40 a month per scale), after F5 has brought
the period's ServiceTitan POs into IFS (at no latency: set-up, not measured); then the
report read and computed with the latency asked for (100 ms by default) on every
request. Its requests by route, and its seconds against the one-minute target."""

from __future__ import annotations

import math
import time
from typing import Any

import httpx

from connector_dagster.bench.flows import (
    PERIOD,
    _own_peak_mb,
    _period,
    _requests,
    sandbox_environment,
)

BILLS_PER_SCALE = 40
"""AP and inventory bills a month at scale 1 (20 of each)."""
TARGET_S = 60.0
FLOWS = ("purchase_orders", "st_purchase_orders", "bills")


def run(records: int | None = None, latency_ms: float | None = None) -> dict[str, Any]:
    from connector_dagster.engine import flow, registry
    from connector_dagster.engine.session import Session
    from connector_dagster.kits.variance import variance

    scale = max(10, math.ceil((records or 0) / BILLS_PER_SCALE))
    latency = 100.0 if latency_ms is None else latency_ms
    with sandbox_environment(scale, 0.0, FLOWS) as env:
        info = env["info"]
        bases = (info["ifs"]["base_url"], info["servicetitan"]["api_url"])
        spec = registry.flow("st_purchase_orders")
        started = time.perf_counter()
        with Session.open("sandbox") as session:
            reads: dict[str, Any] = {}
            for read in spec.reads:
                reads[read.name] = flow.read(spec, session, read.name, _period(), reads).frames
            synced = flow.write(spec, session, PERIOD, reads).report.counts()
        setup_s = time.perf_counter() - started
        for base in bases:
            httpx.put(f"{base}/_sandbox/faults", json={"latency_ms": latency}, timeout=30)
            httpx.delete(f"{base}/_sandbox/requests", timeout=30).raise_for_status()
        started = time.perf_counter()
        with Session.open("sandbox") as session:
            report = variance(session, _period())
        took = time.perf_counter() - started
        calls = [_requests(base) for base in bases]
    t = report.totals
    return {
        "scenario": "variance",
        "period": PERIOD,
        "sandbox_scale": scale,
        "latency_ms": latency,
        "setup_f5_created": synced.get("created", 0),
        "setup_s": round(setup_s, 1),
        "report_s": round(took, 2),
        "target_s": TARGET_S,
        "within_target": took < TARGET_S,
        "bills": t["bills"],
        "ifs_orders": t["ifs_orders"],
        "lines": len(report.lines),
        "ties": report.ties,
        "requests": {
            system: {route: n for (_, route, _), n in sorted(c.items())}
            for system, c in zip(("ifs", "servicetitan"), calls, strict=True)
        },
        "peak_mb": _own_peak_mb(),
        "database": env["database"],
    }
