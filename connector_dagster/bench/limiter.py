"""Benchmark of the shared rate limit itself: how long one grant (one UPDATE) takes, alone
and with several processes granting from one bucket at once, and how many grants per
second one bucket sustains. The rate is set far above any API's, so nobody waits.

The database is `CONNECTOR_DATABASE_URL` when set, else a throwaway server.
"""

from __future__ import annotations

import multiprocessing
import statistics
import time
import uuid
from typing import Any

from connector_dagster.bench.database import bench_database, database_label
from connector_dagster.lib import db
from connector_dagster.lib.ratelimit import Rate
from connector_dagster.lib.shared_ratelimit import SharedRateLimiter

GRANTS = 2000
"""Grants per process."""
PROCESSES = 3
UNBOUNDED = Rate.per_second(1_000_000)


def _grant(url: str, bucket: str, count: int, start: Any, out: Any) -> None:
    limiter = SharedRateLimiter(url, "bench", bucket, UNBOUNDED)
    limiter.reserve()  # connect before the clock starts
    start.wait(timeout=120)
    latencies = []
    for _ in range(count):
        began = time.perf_counter()
        limiter.reserve()
        latencies.append(time.perf_counter() - began)
    out.put(latencies)


def _measure(url: str, processes: int) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    start = context.Barrier(processes + 1)
    out = context.Queue()
    procs = [
        context.Process(target=_grant, args=(url, bucket, GRANTS, start, out))
        for _ in range(processes)
    ]
    for proc in procs:
        proc.start()
    try:
        start.wait(timeout=120)
        began = time.perf_counter()
        latencies = sorted(x for _ in procs for x in out.get(timeout=300))
        wall = time.perf_counter() - began
    finally:
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.terminate()
    with db.transaction(url) as cur:
        cur.execute("DELETE FROM connector.rate_limits WHERE bucket = %s", (bucket,))
    return {
        "processes": processes,
        "grants": len(latencies),
        "grant_ms_p50": round(statistics.median(latencies) * 1000, 3),
        "grant_ms_p99": round(latencies[int(len(latencies) * 0.99)] * 1000, 3),
        "grant_ms_max": round(latencies[-1] * 1000, 3),
        "grants_per_s": round(len(latencies) / wall),
    }


def run() -> dict[str, Any]:
    """Grant latency alone and under contention; one JSON-able dict."""
    with bench_database() as url:
        alone, contended = _measure(url, 1), _measure(url, PROCESSES)
        return {
            "scenario": "limiter-grants",
            "database": database_label(url),
            "alone": alone,
            "contended": contended,
        }
