"""Benchmarks of the write protocol against each simulator at its ceiling.

`run(scenario, **opts)` starts a sandbox (free ports, 100 ms latency), a database and a
connection `sandbox` to them (`flows.sandbox_environment`), and writes N new records
of a flow, found in the registry, through the engine's write protocol as a flow's
write step runs it (`engine.flow.syncer`: leases, intents, look-ups, the flow's own
target and the connection's clients with their shared rate limit). The records are
made up here in the shape the flow's mapping gives its target (each a new record, so
every write is a create); there is no source, so no change check. `st-writes` writes
F1's ServiceTitan purchase orders, `ifs-writes` F5's IFS purchase orders (a header
and a line each, every create looked up first). Requests and 429s are counted by the
sandbox, duplicates in its own state. The `*-faults` scenarios add 10% 429, 5% 500,
2% connection resets and 1% timeouts, which the protocol meets as in production (a
create whose answer was lost is looked up, adopted if found, created again if not).
The `*-3workers` scenarios split the records over 3 worker processes that share the
API's rate limit through PostgreSQL (`CONNECTOR_DATABASE_URL`, else a throwaway
server), as several Dagster steps on one tenant do.
"""

from __future__ import annotations

import json
import multiprocessing
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from connector_dagster.bench.flows import sandbox_environment
from connector_dagster.engine import flow, registry
from connector_dagster.engine.records import Outbound
from connector_dagster.engine.session import Session
from connector_dagster.engine.sync import SyncReport
from connector_dagster.kits.purchase_orders.provenance import (
    marked_order,
    provenance_marker,
    raised_in_servicetitan,
)
from connector_dagster.lib import db
from connector_dagster.lib.ratelimit import Limiter
from connector_dagster.lib.shared_ratelimit import SharedRateLimiter
from connector_dagster.sandbox import world
from connector_dagster.sandbox.faults import FaultProfile

CONNECTION = "sandbox"
PERIOD = "2026-10-01"


@dataclass(frozen=True)
class BenchOptions:
    """Knobs of a run; every one can be overridden through `run(**opts)`."""

    records: int | None = None
    """Records to write; default per scenario (about 10 s for ST, 30 s for IFS)."""
    workers: int | None = None
    """Writer threads of the protocol; default: the protocol's own."""
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
    fault_seed: int = 7


@dataclass(frozen=True)
class _Scenario:
    flow: str
    """The flow (its registry name) whose target the records are written to."""
    faults: bool
    default_records: int
    processes: int = 1
    """Worker processes sharing the rate limit through PostgreSQL; 1 runs the writes in
    this process."""


SCENARIOS: dict[str, _Scenario] = {
    "st-writes": _Scenario("purchase_orders", False, 600),
    "ifs-writes": _Scenario("st_purchase_orders", False, 250),
    "st-writes-faults": _Scenario("purchase_orders", True, 300),
    "ifs-writes-faults": _Scenario("st_purchase_orders", True, 100),
    "st-writes-3workers": _Scenario("purchase_orders", False, 600, processes=3),
    "ifs-writes-3workers": _Scenario("st_purchase_orders", False, 250, processes=3),
}


def run(scenario: str, **opts: Any) -> dict[str, Any]:
    """Run one scenario against a fresh sandbox and database; its figures."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
    spec = SCENARIOS[scenario]
    known = {f.name for f in fields(BenchOptions)}
    unknown = sorted(set(opts) - known)
    if unknown:
        raise ValueError(f"unknown bench option(s) {unknown}; known: {', '.join(sorted(known))}")
    options = replace(BenchOptions(), **opts)
    records = options.records or spec.default_records
    system = registry.flow(spec.flow).write.system
    profile = FaultProfile(latency_ms=options.latency_ms)
    blocks: dict[str, dict[str, Any]] = {
        "servicetitan": {"rate_per_s": options.st_rate_per_s},
        "ifs": {"rate_per_min": options.ifs_rate_per_min},
    }
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
        for block in blocks.values():  # give up on a held-back answer before it is sent
            block["timeout_s"] = options.client_timeout_s
    rates = {"st_rate_per_s": options.st_rate_per_s, "ifs_rate_per_min": options.ifs_rate_per_min}
    with tempfile.TemporaryDirectory(prefix="connector-bench-") as folder:
        faults_file = Path(folder) / "faults.json"
        faults_file.write_text(json.dumps(profile.to_dict()), encoding="utf-8")
        with sandbox_environment(
            1,
            options.latency_ms,
            (spec.flow,),
            faults_file=faults_file,
            rates=rates,
            blocks=blocks,
        ) as env:
            sandbox = _Sandbox(env["info"], system, f"B{uuid.uuid4().hex[:6]}")
            try:
                sandbox.reset_counts()
                if spec.processes > 1:
                    wall, reports = _run_processes(spec, options, sandbox.marker, records)
                    report = _merged(reports)
                else:
                    report = _write(spec.flow, options, sandbox.marker, range(records))
                    wall, reports = report["wall_s"], []
                ceiling = _ceiling(system, options)
                result = sandbox.figures(scenario, records, wall, ceiling, report)
                if spec.processes > 1:
                    result["processes"] = spec.processes
                    result["per_worker"] = sorted(reports, key=lambda r: r["worker"])
                    result["limiter_grants"] = _grants(env["database_url"], system)
                result["flow"] = spec.flow
                result["database"] = env["database"]
                return result
            finally:
                sandbox.close()


def _ceiling(system: str, options: BenchOptions) -> float:
    """Requests per second the simulator of `system` takes at most."""
    return options.st_rate_per_s if system == "servicetitan" else options.ifs_rate_per_min / 60


def _write(
    flow_name: str,
    options: BenchOptions,
    marker: str,
    indexes: range,
    ready: Callable[[], object] = lambda: None,
) -> dict[str, Any]:
    """Records `indexes` of the run written through the flow's write protocol on the
    connection, timed from `ready()` (once the link and target are built); the
    requests its client sent, the seconds and the protocol's outcomes."""
    spec = registry.flow(flow_name)
    payload = PAYLOADS[flow_name]
    records = [
        Outbound(key, PERIOD, payload(index, key))
        for index in indexes
        for key in [f"{marker}-{index:05d}"]
    ]
    with Session.open(CONNECTION) as session:
        # The client is built here, before the writer threads, so that its token fetch
        # is not timed with the writes.
        client = session.client(spec.write.system)
        target = spec.target(session, flow.settings_of(spec, session))
        syncer = flow.syncer(spec, session, target, workers=options.workers)
        ready()
        started = time.monotonic()
        report = syncer.run(records)
        wall = time.monotonic() - started
        sent = client.transport.requests_sent
    return {"requests": sent, "wall_s": wall, **_outcomes(report)}


def _outcomes(report: SyncReport) -> dict[str, Any]:
    counts = {k: n for k, n in report.counts().items() if n and k != "failed"}
    failed = Counter(f"failed:{reason}" for reason, _ in report.failed.values())
    return {"outcomes": {**counts, **failed}}


def _merged(reports: list[dict[str, Any]]) -> dict[str, Any]:
    outcomes: Counter[str] = Counter()
    for report in reports:
        outcomes.update(report["outcomes"])
    return {"outcomes": dict(outcomes)}


def _run_processes(
    spec: _Scenario, options: BenchOptions, marker: str, records: int
) -> tuple[float, list[dict[str, Any]]]:
    """Split the records over `spec.processes` worker processes started together, each
    with its own link (clients, leases); all of them share the rate limit through the
    database. Returns the wall time and each worker's report."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(spec.processes + 1)
    out = context.Queue()
    shares = [range(w, records, spec.processes) for w in range(spec.processes)]
    procs = [
        context.Process(
            target=_worker,
            args=(spec.flow, options, marker, share),
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
        patience = 120 + 3 * records
        reports = [out.get(timeout=patience) for _ in procs]
        wall = time.monotonic() - started
    finally:
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.terminate()
    return wall, reports


def _worker(
    flow_name: str, options: BenchOptions, marker: str, indexes: range, *, start: Any, out: Any
) -> None:
    """One worker process: its share of the records, started on the barrier."""
    report = _write(flow_name, options, marker, indexes, lambda: start.wait(timeout=120))
    wall = report.pop("wall_s")
    out.put(
        {
            "worker": indexes.start,
            "records": len(indexes),
            "wall_s": round(wall, 2),
            "achieved_rps": round(report["requests"] / wall, 2),
            **report,
        }
    )


def _grants(url: str, system: str) -> int:
    """Slots the shared limiter of `system` granted (every request of every worker takes
    one); the bucket's row is removed, as its sandbox is gone after the run."""
    with Session.open(CONNECTION) as session:
        limiter: Limiter = session.client(system).transport.limiter
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


class _Sandbox:
    """The simulator written to: its request counts and the records it holds."""

    def __init__(self, info: dict[str, Any], system: str, marker: str) -> None:
        block = info[system]
        self.system = system
        self.marker = marker
        self.control = httpx.Client(base_url=block.get("api_url") or block["base_url"], timeout=30)

    def close(self) -> None:
        self.control.close()

    def reset_counts(self) -> None:
        self.control.delete("/_sandbox/requests").raise_for_status()

    def stored_markers(self) -> Counter[str]:
        """How many records carry each of this run's keys in their provenance marker."""
        if self.system == "servicetitan":
            rows = self.control.get("/_sandbox/entities/purchase-orders").json()
            keys = [marked_order(r.get("summary"), CONNECTION) for r in rows]
        else:
            rows = self.control.get("/_sandbox/entities/PurchaseOrderSet").json()["value"]
            keys = [(raised_in_servicetitan(r.get("Reference")) or (None,))[0] for r in rows]
        return Counter(k for k in keys if k and k.startswith(self.marker))

    def figures(
        self, scenario: str, records: int, wall: float, ceiling: float, report: dict[str, Any]
    ) -> dict[str, Any]:
        """The result line: sandbox counts over `wall`, duplicates, outcomes."""
        counts = self.control.get("/_sandbox/requests").json()
        api = [c for c in counts if "token" not in c["route"] and "_sandbox" not in c["route"]]
        requests = sum(int(c["count"]) for c in api)
        tally = report["outcomes"]
        markers = self.stored_markers()
        return {
            "scenario": scenario,
            "records": records,
            "requests": requests,
            "wall_s": round(wall, 2),
            "achieved_rps": round(requests / wall, 2),
            "ceiling_rps": round(ceiling, 2),
            "ratio_to_ceiling": round(requests / wall / ceiling, 3),
            "http_429": sum(int(c["count"]) for c in api if int(c["status"]) == 429),
            "stored": len(markers),
            "duplicates": sum(n - 1 for n in markers.values()),
            "succeeded": sum(n for k, n in tally.items() if not k.startswith("failed")),
            "outcomes": dict(sorted(tally.items())),
        }


def _st_purchase_order(index: int, key: str) -> dict[str, Any]:
    """What F1 maps an IFS purchase order `key` to: a ServiceTitan PO with one item."""
    region = world.REGIONS[index % len(world.REGIONS)]
    part = world.PARTS[index % len(world.PARTS)]
    vendor = world.VENDORS[index % 5]
    return {
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
        "memo": provenance_marker(key),
        "vendorInvoiceNumber": key,
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


def _ifs_purchase_order(index: int, key: str) -> dict[str, Any]:
    """What F5 maps a ServiceTitan purchase order numbered `key` to: an IFS PO header and
    one line."""
    region = world.REGIONS[index % len(world.REGIONS)]
    part = world.PARTS[index % len(world.PARTS)]
    vendor = world.VENDORS[index % 5]
    return {
        "number": key,
        "header": {
            "VendorNo": vendor.ifs_vendor_no,
            "Contract": region.ifs_site,
            "OrderDate": "2026-10-05",
            "WantedReceiptDate": "2026-10-12",
            "CurrencyCode": world.CURRENCY,
            "TaxCode": region.ifs_tax_code,
            "NoteText": f"Benchmark purchase order {index}",
        },
        "lines": [
            {
                "PartNo": part.ifs_part_no,
                "Description": part.description,
                "BuyQtyDue": Decimal(1 + index % 4),
                "BuyUnitPrice": part.unit_price,
                "WantedDeliveryDate": "2026-10-12",
            }
        ],
    }


PAYLOADS: dict[str, Callable[[int, str], dict[str, Any]]] = {
    "purchase_orders": _st_purchase_order,
    "st_purchase_orders": _ifs_purchase_order,
}
"""A made-up record's payload for each flow a scenario writes."""
