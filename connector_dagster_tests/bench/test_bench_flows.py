"""`connector-dagster bench f1-period`, `ifs-postings(-batch)` and `st-invoice-read` run a
period through a flow and report its figures; the figures themselves (times, rates) are
read by people, not asserted."""

from __future__ import annotations

from connector_dagster.bench import flows as bench_flows


def test_f1_period_reports_ratios_requests_429s_and_duplicates(db_env: str) -> None:
    result = bench_flows.run("f1-period", records=30, latency_ms=0)
    assert result["success"] and result["created"] > 0
    assert result["duplicates"] == 0
    for key in ("step_ratio_to_ceiling", "run_ratio_to_ceiling", "http_429", "requests"):
        assert key in result
    assert result["requests"]["servicetitan"]["POST"] == result["created"]
    # Run again with nothing changed: it reads, writes nothing and sends no write.
    rerun = result["unchanged_rerun"]
    assert rerun["success"] and not any(rerun["written"].values()), rerun
    assert set(rerun["requests"]["servicetitan"]) <= {"GET", "POST-token"}, rerun


def test_f1_period_beyond_the_history_scale_seeds_that_period_alone(db_env: str) -> None:
    result = bench_flows.run("f1-period", records=400, latency_ms=0)
    assert result["success"] and result["created"] >= 400
    assert result["duplicates"] == 0
    assert result["sandbox_scale"] == bench_flows.HISTORY_SCALE_MAX
    assert result["period_orders_seeded"] == {"2026-10": 500}
    for key in (
        "read_step_ifs_requests",
        "read_ratio_to_floor",
        "connector_peak_rss_mb",
        "sandbox_peak_rss_mb",
    ):
        assert result[key] > 0


def test_ifs_postings_reports_requests_per_document_look_ups_and_duplicates(db_env: str) -> None:
    result = bench_flows.run("ifs-postings-batch", records=30, latency_ms=0, documents=1)
    assert result["batch"] and result["failed"] == 0 and result["documents"] > 30
    assert result["duplicates"] == 0 and result["batch_documents"] == 1
    assert result["ifs_requests_per_document"]["POST"] == 1.0
    assert result["servicetitan_requests_per_document"]["POST"] == 1.0
    assert 0 < result["lookups_per_created"] <= 0.1
    for key in ("documents_per_min", "ratio_to_ceiling", "http_429", "write_s"):
        assert key in result


def test_ifs_postings_with_10_documents_per_request_sends_fewer_requests(db_env: str) -> None:
    result = bench_flows.run("ifs-postings-batch", records=30, latency_ms=0, documents=10)
    assert result["failed"] == 0 and result["duplicates"] == 0 and result["documents"] > 30
    assert result["batch_documents"] == 10 and result["writer_threads"] == 60
    assert 1 < result["documents_per_batch"] <= 10
    assert result["ifs_requests_per_document"]["POST"] < 1.0
    assert result["servicetitan_requests_per_document"]["POST"] < 1.0


def test_st_invoice_read_reports_records_per_second_and_requests(db_env: str) -> None:
    result = bench_flows.run("st-invoice-read", records=30, latency_ms=0)
    assert result["invoices"] >= 30 and result["items"] > result["invoices"]
    assert result["requests"]["GET jpm/jobs"] == -(-result["jobs"] // 50)
    assert result["requests"]["GET accounting/invoices"] == 1
    assert "records_per_s" in result


def test_st_invoice_read_beyond_the_history_scale_lists_the_periods_jobs(db_env: str) -> None:
    """Beyond 550 invoices the period alone is seeded with them; its jobs are read by
    the list of jobs completed in it, in fewer requests than by id."""
    result = bench_flows.run("st-invoice-read", records=600, latency_ms=0)
    assert result["sandbox_scale"] == bench_flows.HISTORY_SCALE_MAX
    assert result["period_invoices_seeded"] == {"2026-10": 655}
    assert result["invoices"] == 655 and result["jobs"] == 655
    assert result["jobs_path"] == "list"
    assert result["jobs_requests"] == 1 < result["jobs_requests_by_id"] == 14
    assert result["connector_peak_rss_mb"] > 0 and result["sandbox_peak_rss_mb"] > 0
