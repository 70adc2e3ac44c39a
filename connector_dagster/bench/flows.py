"""Benchmarks of whole flows against a sandbox (100 ms latency) and a database each run
starts for itself.

`f1-period`: a period of at least N IFS purchase orders through `ifs_purchase_orders`
and `servicetitan_purchase_orders`. The sandbox's scale is chosen for N up to
HISTORY_SCALE_MAX x 32 POs; beyond it the history keeps that scale and the period
alone is seeded with N orders (`--period-orders`). Requests, 429s and duplicates are
counted by the sandbox; step times come from Dagster's event log. The ceiling is
ServiceTitan's 60 requests/s for the write step; the read step is set against its
request floor (its IFS requests at IFS's 1000 a minute). Peak RSS of this process (the
connector) and of the sandbox's.

`ifs-postings` (`ifs-postings-batch` with `$batch` on, `documents` to a request, by
default the connection's 10): a period of at least N ServiceTitan invoices written by F3
as IFS posting sets, each looked up first (a run refused by a closed IFS period intends
every one of them beforehand), then marked exported; requests per document by method,
and the ratio to IFS's 1000 requests/min; the simulator's operations limit (60,000 a
minute) is the connection's too.
`st-invoice-read`: F3's reads of a period of at least N invoices (with items) and
their jobs; records per second and requests.
"""

from __future__ import annotations

import json
import math
import os
import resource
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
from cryptography.fernet import Fernet

from connector_dagster.bench.database import bench_database, database_label
from connector_dagster.lib.settings import (
    CONNECTIONS_FILE_VAR,
    DATABASE_URL_VAR,
    MASTER_KEY_VAR,
    PROJECT_ROOT,
)
from connector_dagster.sandbox.server import SandboxConfig, SandboxProcess

PERIOD = "2026-10-01"
POS_PER_SCALE = 32
"""Purchase orders a month at scale 1 that F1 creates (about 40 seeded, some not syncable)."""
INVOICES_PER_SCALE = 55
"""Invoices a month at scale 1 that F3 posts (60 seeded, a few pending, inactive or free)."""
IFS_CEILING_PER_MIN = 1000.0
IFS_OPERATIONS_PER_MIN = 60000.0
"""The simulator's operations limit (its default), which the connection paces to too."""
IFS_PAGE_SIZE = 500
"""Rows per IFS page the connection's client asks for (`IfsSettings.page_size`)."""
HISTORY_SCALE_MAX = 10
"""f1-period: the scale of the months around a period of more than 320 POs."""
SEEDED_PER_SYNCED = 40 / 32
"""Orders seeded per order F1 creates (some are in states it does not sync)."""
SEEDED_PER_INVOICE = 60 / 55
"""st-invoice-read: invoices seeded per invoice wanted, as at scale 1 (beyond 550
invoices the history keeps scale 10 and the period alone is seeded with them)."""
SCENARIOS = ("f1-period", "ifs-postings", "ifs-postings-batch", "st-invoice-read")


@contextmanager
def sandbox_environment(
    scale: int,
    latency_ms: float,
    flows: tuple[str, ...] = ("purchase_orders",),
    batch: bool = False,
    period_orders: dict[str, int] | None = None,
    *,
    period_invoices: dict[str, int] | None = None,
    faults_file: Path | None = None,
    rates: dict[str, float] | None = None,
    blocks: dict[str, dict[str, Any]] | None = None,
) -> Iterator[dict[str, Any]]:
    """A sandbox, a migrated database and a connection `sandbox` to it running `flows`
    (credentials in the vault, a development master key; `batch`: IFS `$batch` on), set
    in this process's environment (and so in the processes it spawns). `faults_file`:
    the sandbox's fault profile; `rates`: its ceilings (`st_rate_per_s`,
    `ifs_rate_per_min`); `blocks`: more settings of the connection's system blocks."""
    config = SandboxConfig(
        ifs_port=0,
        st_port=0,
        scale=scale,
        latency_ms=latency_ms,
        period_orders=period_orders or {},
        period_invoices=period_invoices or {},
        **(rates or {}),
    )
    blocks = blocks or {}
    with (
        bench_database() as url,
        SandboxProcess(config, faults_file=faults_file) as sandbox,
        tempfile.TemporaryDirectory(prefix="connector-bench-") as folder,
    ):
        info = sandbox.info
        label = database_label(url)  # before the environment names the database
        connection = connection_block(
            info,
            flows,
            ifs={"batch": batch, **blocks.get("ifs", {})},
            servicetitan=blocks.get("servicetitan", {}),
        )
        with connections_environment(folder, url, {"sandbox": (connection, info)}):
            yield {
                "info": info,
                "database": label,
                "database_url": url,
                "sandbox_peak_mb": lambda: _peak_mb(sandbox),
            }


def connection_block(
    info: dict[str, Any],
    flows: tuple[str, ...],
    ifs: dict[str, Any] | None = None,
    servicetitan: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A connection of the connections file to the sandbox (tenant) `info` describes,
    running `flows` with the sandbox's mappings; `ifs`, `servicetitan`: more settings of
    its system blocks."""
    return {
        "timezone": "America/Los_Angeles",
        "mappings": str(PROJECT_ROOT / "connector_dagster/mappings/sandbox.yaml"),
        "flows": {name: {} for name in flows},
        "ifs": {
            "base_url": info["ifs"]["base_url"],
            "realm": info["ifs"]["realm"],
            "company": "ACME01",
            **(ifs or {}),
        },
        "servicetitan": {
            "api_url": info["servicetitan"]["api_url"],
            "auth_url": info["servicetitan"]["auth_url"],
            "tenant_id": str(info["servicetitan"]["tenant_id"]),
            **(servicetitan or {}),
        },
    }


@contextmanager
def connections_environment(
    folder: str, url: str, connections: dict[str, tuple[dict[str, Any], dict[str, Any]]]
) -> Iterator[Path]:
    """A connections file in `folder` holding `connections` (name -> its block and the
    sandbox tenant it reaches), their credentials in the vault of the database at `url`
    under a development master key, all set in this process's environment (and so in the
    processes it spawns) until the block ends; yields the file's path."""
    from connector_dagster.lib.store import Store
    from connector_dagster.systems.vault import Vault

    saved = {k: os.environ.get(k) for k in (DATABASE_URL_VAR, MASTER_KEY_VAR, CONNECTIONS_FILE_VAR)}
    path = Path(folder) / "connections.yaml"  # JSON is YAML
    blocks = {name: block for name, (block, _) in connections.items()}
    path.write_text(json.dumps({"connections": blocks}, indent=2))
    os.environ.update(
        {
            DATABASE_URL_VAR: url,
            MASTER_KEY_VAR: Fernet.generate_key().decode(),
            CONNECTIONS_FILE_VAR: str(path),
        }
    )
    try:
        store = Store(url)
        vault = Vault(store)
        for name, (_, info) in connections.items():
            for field in ("client_id", "client_secret"):
                vault.set(name, "ifs", field, info["ifs"][field])
            for field in ("client_id", "client_secret", "app_key", "webhook_key"):
                vault.set(name, "servicetitan", field, info["servicetitan"][field])
        store.close()
        yield path
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run(
    scenario: str,
    records: int | None = None,
    latency_ms: float | None = None,
    documents: int | None = None,
) -> dict:
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
    wanted = records or 300
    latency = 100.0 if latency_ms is None else latency_ms
    if scenario == "f1-period":
        scale = max(1, math.ceil(wanted / POS_PER_SCALE))
        dense = {}
        if scale > HISTORY_SCALE_MAX:
            scale = HISTORY_SCALE_MAX
            dense = {PERIOD[:7]: math.ceil(wanted * SEEDED_PER_SYNCED)}
        with sandbox_environment(scale, latency, period_orders=dense) as env:
            return {**_f1_period(env, wanted, scale, latency), "period_orders_seeded": dense}
    scale = max(1, math.ceil(wanted / INVOICES_PER_SCALE))
    batch = scenario == "ifs-postings-batch"
    limits = {"ifs_operations_per_min": IFS_OPERATIONS_PER_MIN}
    ifs = {"operations_per_min": IFS_OPERATIONS_PER_MIN}
    if documents is not None:
        ifs["batch_documents"] = documents
    dense: dict[str, int] = {}
    if scenario == "st-invoice-read" and scale > HISTORY_SCALE_MAX:
        scale = HISTORY_SCALE_MAX
        dense = {PERIOD[:7]: math.ceil(wanted * SEEDED_PER_INVOICE)}
    with sandbox_environment(
        scale, latency, ("invoices",), batch, period_invoices=dense, rates=limits,
        blocks={"ifs": ifs},
    ) as env:  # fmt: skip
        figures = (_st_invoice_read if scenario == "st-invoice-read" else _ifs_postings)(env)
    return {
        "scenario": scenario,
        "period": PERIOD,
        "sandbox_scale": scale,
        "records_wanted": wanted,
        "latency_ms": latency,
        **figures,
        **({"period_invoices_seeded": dense} if dense else {}),
        "database": env["database"],
    }


def _ifs_postings(env: dict[str, Any]) -> dict[str, Any]:
    """Every document intended by a first run that a closed IFS period refuses, then the
    measured run: look-ups by reference, creates, marks in ServiceTitan."""
    from connector_dagster.engine import flow, registry
    from connector_dagster.engine.session import Session

    spec = registry.flow("invoices")
    ifs_base = env["info"]["ifs"]["base_url"]
    st_base = env["info"]["servicetitan"]["api_url"]
    period_url = f"{ifs_base}/_sandbox/periods/ACME01/{PERIOD[:7]}"
    with Session.open("sandbox") as session:
        reads = _read_invoices(spec, session)
        httpx.post(f"{period_url}/close", timeout=30).raise_for_status()
        flow.write(spec, session, PERIOD, reads)
        httpx.post(f"{period_url}/reopen", timeout=30).raise_for_status()
        for base in (st_base, ifs_base):
            httpx.delete(f"{base}/_sandbox/requests", timeout=30).raise_for_status()
        started = time.perf_counter()
        report = flow.write(spec, session, PERIOD, reads).report
        took = time.perf_counter() - started
        batch = session.connection.ifs.batch
        documents = session.connection.ifs.batch_documents if batch else 1
        writers = getattr(spec.target(session, flow.settings_of(spec, session)), "writers", None)
        references = Counter(
            row["Reference"]
            for row in session.ifs.query(
                "ExternalVoucherHandling.svc/ExternalVoucherSet",
                select=["Reference"],
                keys=("Company", "LoadId"),
            )
        )
    ifs_calls, st_calls = _requests(ifs_base), _requests(st_base)
    created = len(report.created)
    ifs_total = sum(n for (method, _, _), n in ifs_calls.items() if method != "POST-token")
    lookups = sum(
        n
        for (method, route, _), n in ifs_calls.items()
        if method == "GET" and route.endswith("svc/ExternalVoucherSet")
    )
    batches = sum(
        n for (method, route, _), n in ifs_calls.items() if method == "POST" and "$batch" in route
    )
    return {
        "batch": batch,
        "batch_documents": documents,
        "documents_per_batch": round(created / batches, 2) if batches else 0.0,
        "writer_threads": writers,
        "ifs_operations_per_min_limit": IFS_OPERATIONS_PER_MIN,
        "documents": created,
        "failed": len(report.failed),
        "write_s": round(took, 2),
        "documents_per_min": round(created / took * 60, 1) if took else 0.0,
        "ifs_requests": ifs_total,
        "ifs_requests_per_document": _per(_by_method(ifs_calls), created),
        "servicetitan_requests_per_document": _per(_by_method(st_calls), created),
        "lookups": lookups,
        "lookups_per_created": round(lookups / created, 3) if created else 0.0,
        "ifs_requests_per_min": round(ifs_total / took * 60, 1) if took else 0.0,
        "ifs_ceiling_per_min": IFS_CEILING_PER_MIN,
        "ratio_to_ceiling": round(ifs_total / took * 60 / IFS_CEILING_PER_MIN, 3) if took else 0.0,
        "http_429": sum(n for (_, _, status), n in ifs_calls.items() if status == 429),
        "duplicates": sum(1 for n in references.values() if n > 1),
    }


def _st_invoice_read(env: dict[str, Any]) -> dict[str, Any]:
    """F3's two reads of the period, timed one after the other."""
    from connector_dagster.engine import flow, registry
    from connector_dagster.engine.session import Session

    spec = registry.flow("invoices")
    invoices_read, jobs_read = (read.name for read in spec.reads)  # the jobs of the invoices
    st_base = env["info"]["servicetitan"]["api_url"]
    period = _period()
    with Session.open("sandbox") as session:
        session.servicetitan.get("settings", "business-units", {"pageSize": 1})  # token, pools
        httpx.delete(f"{st_base}/_sandbox/requests", timeout=30).raise_for_status()
        started = time.perf_counter()
        invoices = flow.read(spec, session, invoices_read, period, {})
        middle = time.perf_counter()
        jobs = flow.read(spec, session, jobs_read, period, {invoices_read: invoices.frames})
        ended = time.perf_counter()
    calls = _requests(st_base)
    jobs_calls = sum(n for (_, route, _), n in calls.items() if route == "GET jpm/jobs")
    count = len(invoices.frames["invoices"])
    items = len(invoices.frames["items"])
    read_s, jobs_s = middle - started, ended - middle
    return {
        "invoices": count,
        "items": items,
        "jobs": len(jobs.frames["jobs"]),
        "invoices_read_s": round(read_s, 3),
        "jobs_read_s": round(jobs_s, 3),
        "invoices_per_s": round(count / read_s, 1) if read_s else 0.0,
        "items_per_s": round(items / read_s, 1) if read_s else 0.0,
        "records_per_s": round((count + items + len(jobs.frames["jobs"])) / (ended - started), 1),
        "requests": {route: n for (_, route, _), n in sorted(calls.items())},
        "jobs_path": jobs.metadata.get("path"),
        "jobs_requests": jobs_calls,
        "jobs_requests_by_id": -(-int(jobs.metadata.get("named", 0)) // 50),
        "http_429": sum(n for (_, _, status), n in calls.items() if status == 429),
        "connector_peak_rss_mb": _own_peak_mb(),
        "sandbox_peak_rss_mb": env["sandbox_peak_mb"](),
    }


def _period() -> Any:
    from datetime import date

    from connector_dagster.engine.records import Period

    start = date.fromisoformat(PERIOD)
    return Period(PERIOD, start, date(start.year + (start.month == 12), start.month % 12 + 1, 1))


def _read_invoices(spec: Any, session: Any) -> dict[str, Any]:
    from connector_dagster.engine import flow

    reads: dict[str, Any] = {}
    for read in spec.reads:
        reads[read.name] = flow.read(spec, session, read.name, _period(), reads).frames
    return reads


def _per(counts: dict[str, int], documents: int) -> dict[str, float]:
    return {k: round(n / documents, 3) for k, n in counts.items()} if documents else {}


def _f1_period(env: dict[str, Any], wanted: int, scale: int, latency_ms: float) -> dict:
    from connector_dagster.engine import registry
    from connector_dagster.engine.build import build
    from connector_dagster.engine.session import Session
    from connector_dagster.kits.purchase_orders.provenance import marked_order

    st_base = env["info"]["servicetitan"]["api_url"]
    ifs_base = env["info"]["ifs"]["base_url"]
    for base in (st_base, ifs_base):
        httpx.delete(f"{base}/_sandbox/requests", timeout=30).raise_for_status()
    defs = build(registry.flow("purchase_orders"), registry.connection("sandbox"))
    with dg.instance_for_test() as instance:
        result = materialize_period(defs, instance)
        steps = _step_seconds(instance, result.run_id)
        st_calls = _requests(st_base)
        ifs_calls = _requests(ifs_base)
        peak_mb = _own_peak_mb()  # the period's sync; the re-run below adds to this process
        rerun = _unchanged_rerun(defs, instance, (ifs_base, st_base)) if result.success else {}
    st_requests = sum(n for (method, _, _), n in st_calls.items() if method != "POST-token")
    ifs_requests = sum(n for (method, _, _), n in ifs_calls.items() if method != "POST-token")
    read_s = steps.get(STEP + "ifs_purchase_orders", 0.0)
    read_requests = _read_requests(result, ifs_calls)
    read_floor = read_requests * 60 / IFS_CEILING_PER_MIN
    write_s = steps.get(STEP + "servicetitan_purchase_orders", 0.0)
    run_s = sum(steps.values())
    with Session.open("sandbox") as session:
        markers = Counter(
            marked_order(po.get("summary"), "sandbox")
            for po in session.servicetitan.iter_pages("inventory", "purchase-orders", {})
        )
    markers.pop(None, None)
    write = materialized(result, "servicetitan_purchase_orders")
    return {
        "scenario": "f1-period",
        "period": PERIOD,
        "sandbox_scale": scale,
        "records_wanted": wanted,
        "records": write.get("source_records", dg.IntMetadataValue(0)).value if write else 0,
        "created": write.get("created", dg.IntMetadataValue(0)).value if write else 0,
        "success": result.success,
        "latency_ms": latency_ms,
        "read_step_s": round(read_s, 2),
        "ifs_requests": ifs_requests,
        "read_step_ifs_requests": read_requests,
        "read_request_floor_s": round(read_floor, 2),
        "read_ratio_to_floor": round(read_s / read_floor, 2) if read_floor else 0.0,
        "write_step_s": round(write_s, 2),
        "run_s": round(run_s, 2),
        "servicetitan_requests": st_requests,
        "ceiling_rps": 60.0,
        "step_ratio_to_ceiling": round(st_requests / (write_s * 60), 3) if write_s else 0.0,
        "run_ratio_to_ceiling": round(st_requests / (run_s * 60), 3) if run_s else 0.0,
        "requests": {
            "servicetitan": _by_method(st_calls),
            "ifs": _by_method(ifs_calls),
        },
        "http_429": sum(n for (_, _, status), n in (st_calls + ifs_calls).items() if status == 429),
        "duplicates": sum(1 for n in markers.values() if n > 1),
        "unchanged_rerun": rerun,
        "connector_peak_rss_mb": peak_mb,
        "sandbox_peak_rss_mb": env["sandbox_peak_mb"](),
        "database": env["database"],
    }


def materialize_period(defs: Any, instance: Any) -> Any:
    """The bench's period of `defs`' assets, materialized in this process on `instance`;
    a failed step is reported in the result, not raised."""
    from connector_dagster.defs.resources import build_resources

    return dg.materialize(
        list(defs.assets),
        partition_key=PERIOD,
        resources=build_resources(),
        instance=instance,
        raise_on_error=False,
    )


def _unchanged_rerun(defs: Any, instance: Any, bases: tuple[str, str]) -> dict[str, Any]:
    """The same period materialized again with nothing changed on either side: its
    steps' seconds, its requests by system and method, what it wrote (nothing), and
    this process's peak memory over both runs (`connector_peak_rss_mb` outside is the
    first run's: the second run's peak stacks on what the first left in this process,
    as it would not in a run process of its own)."""
    for base in bases:
        httpx.delete(f"{base}/_sandbox/requests", timeout=30).raise_for_status()
    result = materialize_period(defs, instance)
    steps = _step_seconds(instance, result.run_id)
    write = materialized(result, "servicetitan_purchase_orders")
    read = materialized(result, "ifs_purchase_orders")
    written = {k: write[k].value for k in ("created", "updated") if k in write}
    ifs_calls = _requests(bases[0])
    ifs, st = _by_method(ifs_calls), _by_method(_requests(bases[1]))
    return {
        "success": result.success,
        "read_step_s": round(steps.get(STEP + "ifs_purchase_orders", 0.0), 2),
        "write_step_s": round(steps.get(STEP + "servicetitan_purchase_orders", 0.0), 2),
        "lines": {k: read[k].value for k in LINE_READS if k in read},
        "requests": {"ifs": ifs, "servicetitan": st},
        "ifs_gets_by_set": _by_set(ifs_calls),
        "written": written,
        "connector_peak_rss_mb_both_runs": _own_peak_mb(),
    }


def materialized(result: Any, asset: str) -> Any:
    """The metadata of the run's materialization of `asset` (the last part of its key),
    empty if it was not materialized."""
    [metadata] = [
        m.materialization.metadata
        for m in result.get_asset_materialization_events()
        if m.asset_key.path[-1] == asset
    ] or [{}]
    return metadata


def _read_requests(result: Any, ifs_calls: Counter[tuple[str, str, int]]) -> int:
    """The read step's IFS requests: its header pages (the client's pages of 500, the
    last one short), every request for lines and to the History Log (which only the read
    asks, to know whose lines to read); the write step's change checks are requests for
    headers too, so headers are counted from the rows the read reported."""
    read = materialized(result, "ifs_purchase_orders")
    headers = read["purchase_orders"].value if "purchase_orders" in read else 0
    lines = sum(
        n
        for (method, route, _), n in ifs_calls.items()
        if method == "GET" and ("PurchaseOrderLine" in route or "HistoryLog" in route)
    )
    return headers // IFS_PAGE_SIZE + 1 + lines


LINE_READS = ("lines_read_for", "lines_kept_for", "lines_read_because")
"""What F1's read reports of whose lines it read and whose it kept from the last read."""
STEP = "sandbox__servicetitan_purchase_orders."
"""F1's steps: `<graph>.<asset>`, the graph named after the write asset."""


def step_times(instance: Any, run_id: str) -> dict[str, tuple[float, float]]:
    """Each step's start and end (epoch seconds), from the run's event log."""
    started: dict[str, float] = {}
    times: dict[str, tuple[float, float]] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            started[event.step_key] = entry.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            times[event.step_key] = (started.get(event.step_key, entry.timestamp), entry.timestamp)
    return times


def _step_seconds(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    """Seconds from each step's start to its end, from the run's event log."""
    return {step: end - start for step, (start, end) in step_times(instance, run_id).items()}


def _requests(base: str) -> Counter[tuple[str, str, int]]:
    rows = httpx.get(f"{base}/_sandbox/requests", timeout=30).json()
    calls: Counter[tuple[str, str, int]] = Counter()
    for row in rows:
        if row["route"].startswith("/_sandbox"):
            continue
        method = "POST-token" if "token" in row["route"] else row["method"]
        calls[(method, row["route"], row["status"])] += row["count"]
    return calls


def _by_set(calls: Counter[tuple[str, str, int]]) -> dict[str, int]:
    """GETs by the entity set they read (the route's last part)."""
    sets: Counter[str] = Counter()
    for (method, route, _), n in calls.items():
        if method == "GET":
            sets[route.rstrip("/").rsplit("/", 1)[-1].split("(", 1)[0]] += n
    return dict(sorted(sets.items()))


def _by_method(calls: Counter[tuple[str, str, int]]) -> dict[str, int]:
    methods: Counter[str] = Counter()
    for (method, _, _), n in calls.items():
        methods[method] += n
    return dict(sorted(methods.items()))


def _own_peak_mb() -> float:
    """Peak resident memory of this process (the connector's steps ran in it), in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _peak_mb(sandbox: SandboxProcess) -> float | None:
    """Peak resident memory of the sandbox's process so far, in MB (None off Linux)."""
    if sandbox.proc is None:
        return None
    try:
        status = Path(f"/proc/{sandbox.proc.pid}/status").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None
