"""Benchmarks of the API clients against a sandbox each scenario starts for itself.

`run(scenario, **opts)` starts `connector-dagster sandbox` in a child process
(free ports, 100 ms latency), drives writes concurrently through our clients,
and returns one JSON-able dict. Requests and 429s are counted by the sandbox,
duplicates are checked in the sandbox's own state. The `*-faults` scenarios
add 10% 429, 5% 500, 2% connection resets and 1% timeouts, and follow the
write protocol for creates whose outcome is unknown: look the record up by its
provenance marker, adopt it if found, create it again only if not. The
`*-3workers` scenarios split the writes over 3 worker processes that share the
API's rate limit through PostgreSQL (`CONNECTOR_DATABASE_URL`, else a throwaway
server), as several Dagster steps on one tenant do.
"""

from __future__ import annotations

import json
import multiprocessing
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from connector_dagster.bench.database import bench_database, database_label
from connector_dagster.lib import db
from connector_dagster.lib.errors import ApiError, OutcomeUnknownError
from connector_dagster.lib.http import map_concurrent
from connector_dagster.lib.ratelimit import Limiter
from connector_dagster.lib.shared_ratelimit import SharedRateLimiter
from connector_dagster.sandbox import world
from connector_dagster.sandbox.faults import FaultProfile
from connector_dagster.sandbox.server import SandboxConfig, SandboxProcess
from connector_dagster.systems.ifs import odata
from connector_dagster.systems.ifs.client import IfsClient, IfsSettings
from connector_dagster.systems.servicetitan.client import ServiceTitanClient, ServiceTitanSettings

VOUCHERS = "ExternalVoucherHandling.svc/ExternalVoucherSet"


@dataclass(frozen=True)
class BenchOptions:
    """Knobs of a run; every one can be overridden through `run(**opts)`."""

    records: int | None = None
    """Writes to drive; default per scenario (about 10 s for ST, 33 s for IFS)."""
    workers: int | None = None
    """Threads; default: the client's configured concurrency."""
    latency_ms: float = 100.0
    st_rate_per_s: float = 60.0
    ifs_rate_per_min: float = 1000.0
    client_timeout_s: float = 2.0
    """Read timeout of the clients in fault scenarios (below the sandbox's delay)."""
    sandbox_timeout_s: float = 4.0
    """How long a faulted 'timeout' answer is held back by the sandbox."""
    rate_429: float = 0.10
    rate_500: float = 0.05
    rate_reset: float = 0.02
    rate_timeout: float = 0.01
    recreate_attempts: int = 3
    """Look-up-then-create rounds for a create whose outcome stays unknown."""
    lookup_window_s: float = 300.0
    """ST look-ups consider POs created this long before the write intent."""
    fault_seed: int = 7


@dataclass(frozen=True)
class _Scenario:
    api: str  # "servicetitan" or "ifs"
    faults: bool
    default_records: int
    processes: int = 1
    """Worker processes sharing the rate limit through PostgreSQL; 1 runs the writes in
    this process with its own limiter."""


SCENARIOS: dict[str, _Scenario] = {
    "st-writes": _Scenario("servicetitan", False, 600),
    "ifs-writes": _Scenario("ifs", False, 550),
    "st-writes-faults": _Scenario("servicetitan", True, 300),
    "ifs-writes-faults": _Scenario("ifs", True, 200),
    "st-writes-3workers": _Scenario("servicetitan", False, 600, processes=3),
    "ifs-writes-3workers": _Scenario("ifs", False, 550, processes=3),
}


def run(scenario: str, **opts: Any) -> dict[str, Any]:
    """Run one scenario against a fresh sandbox and return its figures."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
    spec = SCENARIOS[scenario]
    known = {f.name for f in fields(BenchOptions)}
    unknown = sorted(set(opts) - known)
    if unknown:
        raise ValueError(f"unknown bench option(s) {unknown}; known: {', '.join(sorted(known))}")
    options = replace(BenchOptions(), **opts)
    records = options.records or spec.default_records
    config = SandboxConfig(
        ifs_port=0,
        st_port=0,
        latency_ms=options.latency_ms,
        st_rate_per_s=options.st_rate_per_s,
        ifs_rate_per_min=options.ifs_rate_per_min,
    )
    profile = FaultProfile(latency_ms=options.latency_ms)
    if spec.faults:
        profile = replace(
            profile,
            rate_429=options.rate_429,
            rate_500=options.rate_500,
            rate_reset=options.rate_reset,
            rate_timeout=options.rate_timeout,
            timeout_s=options.sandbox_timeout_s,
            seed=options.fault_seed,
        )
    with tempfile.TemporaryDirectory(prefix="connector-bench-") as folder:
        faults_file = Path(folder) / "faults.json"
        faults_file.write_text(json.dumps(profile.to_dict()), encoding="utf-8")
        with SandboxProcess(config, faults_file=faults_file) as sandbox:
            if spec.processes > 1:
                return _run_processes(scenario, spec, sandbox.info, options, records)
            bench = _bench_for(spec, sandbox.info, options)
            try:
                return bench.run(scenario, records)
            finally:
                bench.close()


def _bench_for(
    spec: _Scenario,
    info: dict[str, Any],
    options: BenchOptions,
    marker: str | None = None,
    database_url: str | None = None,
) -> _Bench:
    cls = _StBench if spec.api == "servicetitan" else _IfsBench
    return cls(info, options, spec.faults, marker=marker, database_url=database_url)


def _run_processes(
    scenario: str, spec: _Scenario, info: dict[str, Any], options: BenchOptions, records: int
) -> dict[str, Any]:
    """Split the writes over `spec.processes` worker processes started together, each
    with its own client; all of them share the rate limit through the database."""
    context = multiprocessing.get_context("spawn")
    with bench_database() as url:
        bench = _bench_for(spec, info, options, database_url=url)
        try:
            bench.control.delete("/_sandbox/requests").raise_for_status()
            start = context.Barrier(spec.processes + 1)
            out = context.Queue()
            shares = [range(w, records, spec.processes) for w in range(spec.processes)]
            procs = [
                context.Process(
                    target=_worker,
                    args=(spec, info, options, bench.marker, url, share),
                    kwargs={"start": start, "out": out},
                    name=f"bench-worker-{share.start}",
                )
                for share in shares
            ]
            for proc in procs:
                proc.start()
            try:
                start.wait(timeout=120)
                started = time.monotonic()
                patience = 120 + 3 * records / bench.ceiling_rps
                reports = [out.get(timeout=patience) for _ in procs]
                wall = time.monotonic() - started
            finally:
                for proc in procs:
                    proc.join(30)
                    if proc.is_alive():
                        proc.terminate()
            tally: Counter[str] = Counter()
            for report in reports:
                tally.update(report.pop("outcomes"))
            result = bench.figures(scenario, records, wall, tally)
            result["processes"] = spec.processes
            result["database"] = database_label(url)
            result["per_worker"] = sorted(reports, key=lambda r: r["worker"])
            result["limiter_grants"] = _grants(url, bench.client.transport.limiter)
            return result
        finally:
            bench.close()


def _worker(
    spec: _Scenario,
    info: dict[str, Any],
    options: BenchOptions,
    marker: str,
    database_url: str,
    indexes: range,
    *,
    start: Any,
    out: Any,
) -> None:
    """One worker process: its own client, its share of the writes, started on the barrier."""
    bench = _bench_for(spec, info, options, marker=marker, database_url=database_url)
    try:
        workers = options.workers or bench.concurrency
        start.wait(timeout=120)
        started = time.monotonic()
        outcomes = map_concurrent(bench.write, indexes, workers, return_exceptions=True)
        wall = time.monotonic() - started
        sent = bench.client.transport.requests_sent
        out.put(
            {
                "worker": indexes.start,
                "records": len(indexes),
                "requests": sent,
                "wall_s": round(wall, 2),
                "achieved_rps": round(sent / wall, 2),
                "outcomes": dict(Counter(_outcome(o) for o in outcomes)),
            }
        )
    finally:
        bench.close()


def _grants(url: str, limiter: Limiter) -> int:
    """Slots the shared limiter granted (every request of every worker takes one); the
    bucket's row is removed, as its sandbox is gone after the run."""
    assert isinstance(limiter, SharedRateLimiter), "the workers share a limiter"
    with db.transaction(url) as cur:
        cur.execute(
            "SELECT grants FROM connector.rate_limits WHERE api = %s AND bucket = %s",
            (limiter.api, limiter.bucket),
        )
        row = cur.fetchone()
        cur.execute(
            "DELETE FROM connector.rate_limits WHERE api = %s AND bucket = %s",
            (limiter.api, limiter.bucket),
        )
    return int(row[0]) if row else 0


class _Bench(ABC):
    """Shared measuring: sandbox counters, the concurrent run, the result dict."""

    ceiling_rps: float
    concurrency: int
    client: IfsClient | ServiceTitanClient

    def __init__(self, control_url: str, options: BenchOptions, marker: str | None) -> None:
        self.options = options
        self.control = httpx.Client(base_url=control_url, timeout=30)
        self.marker = marker or f"BENCH-{uuid.uuid4().hex[:8]}"

    def close(self) -> None:
        self.control.close()

    @abstractmethod
    def write(self, index: int) -> str:
        """Write record `index`; returns how it ended (see `_protocol`)."""

    @abstractmethod
    def stored_markers(self) -> Counter[str]:
        """How many records carry each of this run's markers, in the sandbox."""

    def run(self, scenario: str, records: int) -> dict[str, Any]:
        self.control.delete("/_sandbox/requests").raise_for_status()
        workers = self.options.workers or self.concurrency
        started = time.monotonic()
        outcomes = map_concurrent(self.write, range(records), workers, return_exceptions=True)
        wall = time.monotonic() - started
        return self.figures(scenario, records, wall, Counter(_outcome(o) for o in outcomes))

    def figures(
        self, scenario: str, records: int, wall: float, tally: Counter[str]
    ) -> dict[str, Any]:
        """The result line: sandbox counts over `wall`, duplicates, outcomes."""
        counts = self.control.get("/_sandbox/requests").json()
        api = [c for c in counts if "token" not in c["route"]]
        requests = sum(int(c["count"]) for c in api)
        result: dict[str, Any] = {
            "scenario": scenario,
            "records": records,
            "requests": requests,
            "wall_s": round(wall, 2),
            "achieved_rps": round(requests / wall, 2),
            "ceiling_rps": round(self.ceiling_rps, 2),
            "ratio_to_ceiling": round(requests / wall / self.ceiling_rps, 3),
            "http_429": sum(int(c["count"]) for c in api if int(c["status"]) == 429),
        }
        markers = self.stored_markers()
        result["stored"] = len(markers)
        result["duplicates"] = sum(n - 1 for n in markers.values())
        result["succeeded"] = sum(n for k, n in tally.items() if not k.startswith("failed"))
        result["outcomes"] = dict(sorted(tally.items()))
        result["unclassified"] = sum(n for k, n in tally.items() if k == "failed:unclassified")
        return result

    def _protocol(self, create: Callable[[], Any], look_up: Callable[[], Any | None]) -> str:
        """Create; when the outcome is unknown, look up before creating again.

        Returns `created`, `adopted` (found after a lost answer) or
        `created_after_lookup`; a classified failure raises ApiError."""
        for round_ in range(self.options.recreate_attempts):
            try:
                create()
                return "created" if round_ == 0 else "created_after_lookup"
            except OutcomeUnknownError:
                if look_up() is not None:
                    return "adopted"
        raise OutcomeUnknownError(
            f"still unknown after {self.options.recreate_attempts} look-up rounds",
            method="POST",
            url="",
        )


def _fault_timeouts(options: BenchOptions, faults: bool) -> dict[str, float]:
    """Client settings for fault runs: give up on a held-back answer before the sandbox
    sends it, so that faulted timeouts are seen as timeouts."""
    return {"timeout_s": options.client_timeout_s} if faults else {}


def _outcome(outcome: str | BaseException) -> str:
    if isinstance(outcome, str):
        return outcome
    if isinstance(outcome, ApiError):
        return f"failed:{outcome.kind}"
    return "failed:unclassified"


class _StBench(_Bench):
    """ServiceTitan PO creates; provenance marker in `memo` (returned as `summary`)."""

    def __init__(
        self,
        info: dict[str, Any],
        options: BenchOptions,
        faults: bool,
        *,
        marker: str | None = None,
        database_url: str | None = None,
    ) -> None:
        st = info["servicetitan"]
        super().__init__(st["api_url"], options, marker)
        settings = ServiceTitanSettings(
            api_url=st["api_url"],
            auth_url=st["auth_url"],
            tenant_id=st["tenant_id"],
            app_key=st["app_key"],
            client_id=st["client_id"],
            client_secret=st["client_secret"],
            rate_per_s=options.st_rate_per_s,
            database_url=database_url,
            **_fault_timeouts(options, faults),
        )
        self.client = ServiceTitanClient(settings)
        self.ceiling_rps = settings.rate_per_s
        self.concurrency = settings.concurrency
        self.look_up_since = datetime.now(UTC) - timedelta(seconds=options.lookup_window_s)

    def close(self) -> None:
        self.client.close()
        super().close()

    def write(self, index: int) -> str:
        memo = f"{self.marker}-{index:05d}"
        region = world.REGIONS[index % len(world.REGIONS)]
        part = world.PARTS[index % len(world.PARTS)]
        vendor = world.VENDORS[index % 5]
        body = {
            "vendorId": vendor.st_vendor_id,
            "typeId": world.PO_TYPES[0][0],
            "businessUnitId": region.st_business_unit_id,
            "inventoryLocationId": region.st_warehouse_id,
            "jobId": None,
            "shipTo": {
                "description": f"{region.name} warehouse",
                "address": {
                    "street": region.street,
                    "unit": "",
                    "city": region.city,
                    "state": region.state,
                    "zip": region.zip,
                    "country": "USA",
                },
            },
            "impactsTechnicianPayroll": False,
            "memo": memo,
            "vendorInvoiceNumber": memo,
            "date": "2026-10-05T00:00:00Z",
            "requiredOn": "2026-10-12T00:00:00Z",
            "tax": 0,
            "shipping": 0,
            "items": [
                {
                    "skuId": part.st_sku_id,
                    "description": part.description,
                    "vendorPartNumber": part.ifs_part_no,
                    "quantity": 1 + index % 4,
                    "cost": part.unit_price,
                }
            ],
        }
        return self._protocol(
            lambda: self.client.create("inventory", "purchase-orders", body),
            lambda: self._look_up(memo),
        )

    def _look_up(self, memo: str) -> dict[str, Any] | None:
        params = {"createdOnOrAfter": self.look_up_since, "active": "Any"}
        for po in self.client.iter_pages("inventory", "purchase-orders", params):
            if po.get("summary") == memo:
                return po
        return None

    def stored_markers(self) -> Counter[str]:
        rows = self.control.get("/_sandbox/entities/purchase-orders").json()
        return Counter(
            str(r["summary"]) for r in rows if str(r.get("summary")).startswith(self.marker)
        )


class _IfsBench(_Bench):
    """IFS external-voucher creates on `/int/`; provenance in `Reference`."""

    def __init__(
        self,
        info: dict[str, Any],
        options: BenchOptions,
        faults: bool,
        *,
        marker: str | None = None,
        database_url: str | None = None,
    ) -> None:
        ifs = info["ifs"]
        super().__init__(ifs["base_url"], options, marker)
        settings = IfsSettings(
            base_url=ifs["base_url"],
            realm=ifs["realm"],
            client_id=ifs["client_id"],
            client_secret=ifs["client_secret"],
            rate_per_min=options.ifs_rate_per_min,
            database_url=database_url,
            **_fault_timeouts(options, faults),
        )
        self.client = IfsClient(settings)
        self.set_path = VOUCHERS
        self.ceiling_rps = settings.rate_per_min / 60
        self.concurrency = settings.concurrency

    def close(self) -> None:
        self.client.close()
        super().close()

    def write(self, index: int) -> str:
        reference = f"{self.marker}-{index:05d}"
        body = {
            "Company": world.COMPANY,
            "VoucherDate": "2026-10-05",
            "VoucherType": "A",
            "Text": f"Benchmark voucher {index}",
            "Reference": reference,
        }
        return self._protocol(
            lambda: self.client.create(self.set_path, body),
            lambda: next(
                self.client.query(
                    self.set_path,
                    filter=odata.and_(
                        odata.eq("Company", world.COMPANY), odata.eq("Reference", reference)
                    ),
                    tier=self.client.settings.write_tier,
                    keys=("Company", "LoadId"),
                ),
                None,
            ),
        )

    def stored_markers(self) -> Counter[str]:
        rows = self.control.get("/_sandbox/entities/ExternalVoucherSet").json()["value"]
        return Counter(
            str(r["Reference"]) for r in rows if str(r.get("Reference")).startswith(self.marker)
        )
