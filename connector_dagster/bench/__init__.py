"""`connector-dagster bench`: benchmark scenarios, one module per kind: the write
protocol against each simulator at its ceiling (`writes`), a flow's period through its
Dagster assets (`flows`), the shared rate limiter (`limiter`), the simulators' reads
(`sandbox`), the webhook receiver under load (`webhooks`), a period's AP and inventory
variance report (`variance`) and F1's period for several tenants at once (`tenants`).
Each prints one JSON object. Speed and memory targets are
checked here, never by timed tests."""

from __future__ import annotations

from typing import Any

SPECIAL = ("limiter-grants", "sandbox-gets", "webhooks-load", "variance", "tenants")
"""Scenarios with a module of their own."""


def scenarios() -> list[str]:
    """Every scenario's name."""
    from connector_dagster.bench import flows, writes

    return [*writes.SCENARIOS, *SPECIAL, *flows.SCENARIOS]


def run(
    scenario: str,
    records: int | None = None,
    latency_ms: float | None = None,
    documents: int | None = None,
    connections: tuple[int, ...] | None = None,
) -> dict[str, Any]:
    """Run `scenario`; its result as one JSON-ready object. `documents`: documents per
    IFS `$batch` of `ifs-postings-batch` (default: the connection's). `connections`: the
    counts of connections of `tenants`' rounds (default 1, 2 and 4)."""
    if documents is not None and scenario != "ifs-postings-batch":
        raise ValueError("--documents-per-request is an option of ifs-postings-batch only")
    if connections is not None and scenario != "tenants":
        raise ValueError("--connections is an option of tenants only")
    if scenario == "tenants":
        from connector_dagster.bench import tenants

        return tenants.run(connections or tenants.DEFAULT_CONNECTIONS, records, latency_ms)
    if scenario == "sandbox-gets":
        from connector_dagster.bench import sandbox

        return sandbox.run()
    if scenario == "webhooks-load":
        from connector_dagster.bench import webhooks

        return webhooks.run(events=records or 10_000)
    if scenario == "variance":
        from connector_dagster.bench import variance

        return variance.run(records, latency_ms)
    if scenario == "limiter-grants":
        from connector_dagster.bench import limiter

        return limiter.run()
    from connector_dagster.bench import flows, writes

    if scenario in flows.SCENARIOS:
        return flows.run(scenario, records, latency_ms, documents)
    opts: dict[str, float] = {}
    if records:
        opts["records"] = records
    if latency_ms is not None:
        opts["latency_ms"] = latency_ms
    return writes.run(scenario, **opts)
