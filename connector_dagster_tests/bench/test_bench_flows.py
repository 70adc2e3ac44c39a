"""`connector-dagster bench f1-period` runs a period through the Dagster assets and
reports its figures; the figures themselves are read by people, not asserted."""

from __future__ import annotations

from connector_dagster import bench_flows


def test_f1_period_reports_ratios_requests_429s_and_duplicates(db_env: str) -> None:
    result = bench_flows.run("f1-period", records=30, latency_ms=0)
    assert result["success"] and result["created"] > 0
    assert result["duplicates"] == 0
    for key in ("step_ratio_to_ceiling", "run_ratio_to_ceiling", "http_429", "requests"):
        assert key in result
    assert result["requests"]["servicetitan"]["POST"] == result["created"]
