"""What `make dev` prints (without running it for minutes): a failed run once, as one
line with its period and its page in the UI; the UI's first answer; and a log file per
start, named by its time, the last ten kept."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connector_dagster.cli.dev_output import (
    KEPT_LOGS,
    MESSAGE_CHARS,
    Watch,
    failed_run_line,
    open_log,
)
from connector_dagster.defs.operations.alerts import record
from connector_dagster.sandbox.server import running

UI = "http://127.0.0.1:3390"


def failed_run(period: str = "2026-05-01") -> dg.DagsterRun:
    return dg.DagsterRun(
        job_name="sandbox_purchase_orders_job",
        run_id=str(uuid.uuid4()),
        tags={"dagster/partition": period, "connector/connection": "sandbox"},
    )


def test_a_failed_run_is_one_line_with_its_period_and_link_printed_once(db_env: str) -> None:
    before = failed_run("2026-04-01")
    record(before, "recorded before the start")
    watch = Watch(db_env, UI)
    run = failed_run()
    record(run, "2 of 41 PO records of 2026-05-01 failed and were parked in failed_records")

    [line] = list(watch.failed_runs())
    assert "sandbox_purchase_orders_job" in line
    assert "sandbox purchase_orders 2026-05" in line
    assert line.endswith(f"{UI}/runs/{run.run_id}")
    assert before.run_id not in line
    assert list(watch.failed_runs()) == []  # once

    again = failed_run("2026-06-01")
    record(again, "failed\nwith a second line\n" + "x" * 400)
    [line] = list(watch.failed_runs())
    assert "\n" not in line and again.run_id in line


def test_a_long_message_is_cut_to_one_line() -> None:
    at = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    line = failed_run_line("connector_dagster: run 1 failed:\n" + "y" * 500, "r1", UI, at)
    assert "\n" not in line and "connector_dagster:" not in line
    assert len(line) <= len("08:00:00 ") + MESSAGE_CHARS + len(f" {UI}/runs/r1") + 9


def test_the_ui_is_announced_the_first_time_it_answers(db_env: str) -> None:
    async def server_info(request: Request) -> JSONResponse:
        return JSONResponse({"dagster_webserver_version": "test"})

    app = Starlette(routes=[Route("/server_info", server_info)])
    with running(app) as url:
        watch = Watch(db_env, url)
        assert list(watch.ui_answers()) == [f"the UI is up on {url}"]
        assert list(watch.ui_answers()) == []
    assert list(Watch(db_env, "http://127.0.0.1:9").ui_answers()) == []  # nothing listens


def test_each_start_logs_into_a_file_of_its_own_and_the_last_ten_are_kept(tmp_path: Path) -> None:
    folder = tmp_path / "dev-logs"
    folder.mkdir()
    for n in range(15):
        (folder / f"dev-20260101-0000{n:02d}.log").write_text("old\n")
    path, log = open_log(tmp_path)
    log.write("Dagster's line\n")
    log.close()
    assert path.parent == folder and path.name.startswith("dev-2")
    assert path.read_text() == "Dagster's line\n"
    kept = sorted(p.name for p in folder.iterdir())
    assert len(kept) == KEPT_LOGS and kept[-1] == path.name
