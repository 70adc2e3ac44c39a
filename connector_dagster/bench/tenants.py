"""`tenants`: 1, 2, 4… connections syncing F1's period at once, each against a tenant of
its own on one sandbox (one ServiceTitan API host, an IFS host each) with the tenant's
ceilings (ServiceTitan 60 requests/s, IFS 1000 a minute; 100 ms latency).

Per round of N connections: one sandbox serving N tenants, one database, and N child
processes (each what a Dagster run of one connection is), each materialising F1's
assets for its own connection once all are ready. Per tenant: its write step's
ServiceTitan requests against its own ceiling (target ≥ 0.9), 429s, POs created and the
peak RSS of its process (the connector's memory per tenant, which should stay flat as N
grows). Summed: every tenant's ServiceTitan requests over the span from the first write
step's start to the last one's end (it should grow with N), against N ceilings.
"""

from __future__ import annotations

import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from connector_dagster.bench.database import bench_database, database_label
from connector_dagster.bench.flows import (
    HISTORY_SCALE_MAX,
    PERIOD,
    POS_PER_SCALE,
    SEEDED_PER_SYNCED,
    _peak_mb,
    connection_block,
    connections_environment,
    materialize_period,
    materialized,
    step_times,
)
from connector_dagster.lib.settings import (
    PROJECT_ROOT,
)
from connector_dagster.sandbox.server import SandboxConfig, SandboxProcess

ST_CEILING_PER_S = 60.0
IFS_CEILING_PER_MIN = 1000.0
FIRST_TENANT_ID = 1_234_567
DEFAULT_CONNECTIONS = (1, 2, 4)
DEFAULT_RECORDS = 1000
"""POs of each tenant's period: a write step of some 18 s at the ceiling (at 300 POs it
is 6 s, and the tenants' steps, started after reads of different lengths, hardly overlap)."""
MAX_CONNECTIONS = 16
READY = "ready"


def run(
    connections: tuple[int, ...] = DEFAULT_CONNECTIONS,
    records: int | None = None,
    latency_ms: float | None = None,
) -> dict[str, Any]:
    """One round per count of connections, one after the other."""
    for n in connections:
        if not 1 <= n <= MAX_CONNECTIONS:
            raise ValueError(f"--connections {n}: give 1 to {MAX_CONNECTIONS} connections")
    wanted = records or DEFAULT_RECORDS
    latency = 100.0 if latency_ms is None else latency_ms
    scale = max(1, math.ceil(wanted / POS_PER_SCALE))
    dense: dict[str, int] = {}
    if scale > HISTORY_SCALE_MAX:  # as f1-period: the period alone seeded with N orders
        scale = HISTORY_SCALE_MAX
        dense = {PERIOD[:7]: math.ceil(wanted * SEEDED_PER_SYNCED)}
    rounds = [_round(n, scale, dense, latency) for n in connections]
    base = rounds[0]["summed_st_rps"] / rounds[0]["connections"] if rounds else 0.0
    return {
        "scenario": "tenants",
        "period": PERIOD,
        "records_wanted": wanted,
        "sandbox_scale": scale,
        "period_orders_seeded": dense,
        "latency_ms": latency,
        "ceiling_rps_per_tenant": ST_CEILING_PER_S,
        "rounds": rounds,
        "summed_rps_per_tenant_vs_first_round": [
            round(r["summed_st_rps"] / r["connections"] / base, 3) if base else 0.0 for r in rounds
        ],
        "database": rounds[0]["database"] if rounds else None,
    }


def _round(n: int, scale: int, dense: dict[str, int], latency_ms: float) -> dict[str, Any]:
    with _tenants_environment(n, scale, dense, latency_ms) as env:
        load_before = os.getloadavg()[0]
        names = list(env["tenants"])
        go = Path(env["folder"]) / "go"
        children = [_start_child(name, go) for name in names]
        try:
            for child in children:
                assert child.stdout is not None
                line = child.stdout.readline().strip()
                if line != READY:
                    raise RuntimeError(f"a tenant's run did not start: {_err(child)}")
            go.touch()
            outcomes = [_outcome(child) for child in children]
        finally:
            for child in children:
                if child.poll() is None:
                    child.kill()
                    child.wait()
        tenants = [
            _tenant_figures(name, env["tenants"][name], outcome, env["shared_st"])
            for name, outcome in zip(names, outcomes, strict=True)
        ]
        sandbox_mb = env["sandbox_peak_mb"]()
        sandbox_cpu = env["sandbox_cpu_s"]()
        load = os.getloadavg()[0]
    starts = [t.pop("write_started") for t in tenants]
    ends = [t.pop("write_ended") for t in tenants]
    span = max(ends) - min(starts) if tenants else 0.0
    requests = sum(t["servicetitan_requests"] for t in tenants)
    rss = [t["connector_peak_rss_mb"] for t in tenants]
    return {
        "connections": n,
        "tenants": tenants,
        "min_ratio_to_ceiling": min(t["step_ratio_to_ceiling"] for t in tenants),
        "created": sum(t["created"] for t in tenants),
        "summed_st_requests": requests,
        "write_span_s": round(span, 2),
        "summed_st_rps": round(requests / span, 1) if span else 0.0,
        "summed_ceiling_rps": ST_CEILING_PER_S * n,
        "summed_ratio_to_ceilings": round(requests / span / (ST_CEILING_PER_S * n), 3)
        if span
        else 0.0,
        "connector_rss_mb_per_tenant": round(statistics.mean(rss), 1),
        "connector_cpu_s": round(sum(t["connector_cpu_s"] for t in tenants), 1),
        "sandbox_peak_rss_mb": sandbox_mb,
        "sandbox_cpu_s": sandbox_cpu,
        "load_average_1min": [round(load_before, 2), round(load, 2)],
        "http_429": sum(t["http_429"] for t in tenants),
        "database": env["database"],
    }


@contextmanager
def _tenants_environment(
    n: int, scale: int, dense: dict[str, int], latency_ms: float
) -> Iterator[dict[str, Any]]:
    """A sandbox of `n` tenants, a migrated database and a connection per tenant (`t1`…)
    running F1 at the tenant's ceilings, set in this process's environment."""
    config = SandboxConfig(
        ifs_port=0,
        st_port=0,
        scale=scale,
        period_orders=dense,
        latency_ms=latency_ms,
        st_rate_per_s=ST_CEILING_PER_S,
        ifs_rate_per_min=IFS_CEILING_PER_MIN,
        tenants=[{"st_tenant_id": str(FIRST_TENANT_ID + i)} for i in range(1, n)],
    )
    with (
        bench_database() as url,
        SandboxProcess(config) as sandbox,
        tempfile.TemporaryDirectory(prefix="connector-bench-tenants-") as folder,
    ):
        label = database_label(url)
        described = sandbox.info.get("tenants") or [sandbox.info]
        # Named per round: a database kept between rounds (CONNECTOR_DATABASE_URL) holds
        # no ledger of an earlier round's connection of the same name.
        tenants = {f"n{n}_t{i}": info for i, info in enumerate(described, start=1)}
        connections = {
            name: (
                connection_block(
                    info,
                    ("purchase_orders",),
                    ifs={"rate_per_min": IFS_CEILING_PER_MIN},
                    servicetitan={"rate_per_s": ST_CEILING_PER_S},
                ),
                info,
            )
            for name, info in tenants.items()
        }
        with connections_environment(folder, url, connections):
            yield {
                "tenants": tenants,
                "shared_st": n > 1,
                "folder": folder,
                "database": label,
                "sandbox_peak_mb": lambda: _peak_mb(sandbox),
                "sandbox_cpu_s": lambda: _cpu_s(sandbox),
            }


def _cpu_s(sandbox: SandboxProcess) -> float | None:
    """CPU time the sandbox's process has used so far, in seconds (None off Linux)."""
    if sandbox.proc is None:
        return None
    try:
        fields = Path(f"/proc/{sandbox.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 1)


def _start_child(connection: str, go: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "connector_dagster.bench.tenants", connection, str(go)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=PROJECT_ROOT,
    )


def _outcome(child: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = child.communicate(timeout=3600)
    lines = out.strip().splitlines()
    if child.returncode != 0 or not lines:
        raise RuntimeError(f"a tenant's run failed: {(err or '').strip()[-2000:]}")
    return json.loads(lines[-1])


def _err(child: subprocess.Popen[str]) -> str:
    child.kill()
    _, err = child.communicate()
    return (err or "").strip()[-2000:]


def _tenant_figures(
    name: str, info: dict[str, Any], outcome: dict[str, Any], shared: bool
) -> dict[str, Any]:
    st = info["servicetitan"]
    tenant = st["tenant_id"]
    calls = _requests(st["api_url"], tenant, shared)
    requests = sum(n for (method, _), n in calls.items() if method != "POST-token")
    write_s = outcome["write_ended"] - outcome["write_started"]
    return {
        "connection": name,
        "tenant_id": tenant,
        "success": outcome["success"],
        "records": outcome["records"],
        "created": outcome["created"],
        "read_step_s": round(outcome["read_s"], 2),
        "write_step_s": round(write_s, 2),
        "servicetitan_requests": requests,
        "step_ratio_to_ceiling": round(requests / (write_s * ST_CEILING_PER_S), 3)
        if write_s
        else 0.0,
        "http_429": sum(n for (_, status), n in calls.items() if status == 429),
        "connector_peak_rss_mb": outcome["peak_rss_mb"],
        "connector_cpu_s": outcome["cpu_s"],
        "write_started": outcome["write_started"],
        "write_ended": outcome["write_ended"],
    }


def _requests(api_url: str, tenant: str, shared: bool) -> dict[tuple[str, int], int]:
    """The tenant's ServiceTitan requests by (method, status)."""
    control = f"{api_url}/_sandbox/tenants/{tenant}" if shared else f"{api_url}/_sandbox"
    calls: dict[tuple[str, int], int] = {}
    for row in httpx.get(f"{control}/requests", timeout=30).json():
        method = "POST-token" if "token" in row["route"] else row["method"]
        key = (method, row["status"])
        calls[key] = calls.get(key, 0) + row["count"]
    return calls


def _child(connection: str, go: Path) -> None:
    """F1's period for `connection` through its Dagster assets, once `go` exists; one
    JSON line with its steps' times, its counts and this process's peak RSS."""
    import dagster as dg

    from connector_dagster.engine import registry
    from connector_dagster.engine.build import build

    defs = build(registry.flow("purchase_orders"), registry.connection(connection))
    print(READY, flush=True)
    while not go.exists():
        time.sleep(0.01)
    with dg.instance_for_test() as instance:
        result = materialize_period(defs, instance)
        steps = step_times(instance, result.run_id)
    step = f"{connection}__servicetitan_purchase_orders."
    read = steps.get(step + "ifs_purchase_orders", (0.0, 0.0))
    write = steps.get(step + "servicetitan_purchase_orders", (0.0, 0.0))
    metadata = materialized(result, "servicetitan_purchase_orders")

    def count(key: str) -> int:
        value = metadata.get(key)
        return int(value.value) if value is not None else 0

    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "success": result.success,
                "records": count("source_records"),
                "created": count("created"),
                "read_s": read[1] - read[0],
                "write_started": write[0],
                "write_ended": write[1],
                "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
                "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    _child(sys.argv[1], Path(sys.argv[2]))
