"""`connector-dagster bench st-writes`, `ifs-writes` and their `-3workers` runs write
made-up records of a flow through the engine's write protocol and the flow's own
target; the figures themselves (rates, ratios) are read by people, not asserted."""

from __future__ import annotations

from connector_dagster.bench import writes


def test_st_writes_create_each_record_once_through_f1s_target(db_env: str) -> None:
    result = writes.run("st-writes", records=20, latency_ms=0)
    assert result["flow"] == "purchase_orders"
    assert result["outcomes"] == {"created": 20}
    assert result["stored"] == 20 and result["duplicates"] == 0
    assert result["requests"] == 20  # one POST a PO: nothing is looked up before a create
    for key in ("ratio_to_ceiling", "http_429", "wall_s"):
        assert key in result


def test_ifs_writes_look_up_then_create_header_and_line_through_f5s_target(db_env: str) -> None:
    result = writes.run("ifs-writes", records=10, latency_ms=0)
    assert result["flow"] == "st_purchase_orders"
    assert result["outcomes"] == {"created": 10}
    assert result["stored"] == 10 and result["duplicates"] == 0
    assert result["requests"] > 20  # a header and a line each, and the look-ups first


def test_three_workers_share_the_rate_limit_and_write_each_record_once(db_env: str) -> None:
    result = writes.run("st-writes-3workers", records=30, latency_ms=0)
    assert result["processes"] == 3 and len(result["per_worker"]) == 3
    assert result["outcomes"] == {"created": 30}
    assert result["stored"] == 30 and result["duplicates"] == 0
    assert result["limiter_grants"] >= 30
