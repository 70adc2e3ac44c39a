"""Fixtures of the operations tests: a real `dagster-daemon` on PostgreSQL storage."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from connector_dagster.lib import db
from connector_dagster.lib.settings import DAGSTER_PG_URL_VAR, PROJECT_ROOT
from connector_dagster_tests.dagster_processes import workspace

# Production looks every 30 s and frees a dead run's slots 60 s after its end;
# the test's daemon does both within seconds. Only settings production has are
# shortened: the test adds no mechanism of its own.
TEST_MONITORING = {"poll_interval_seconds": 1, "free_slots_after_run_end_seconds": 1}


def wait_for(what: str, probe: Callable[[], Any], timeout_s: float = 240.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def dagster_cwd() -> Path:
    """Where Dagster's commands run: DAGSTER_HOME, with a workspace like the project's;
    not the project root, where a developer's `make dev` may have written a .env."""
    home = Path(os.environ["DAGSTER_HOME"])
    workspace(home)
    return home


@pytest.fixture
def instance(
    sandbox_connection: dict, db_env: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dg.DagsterInstance]:
    """DAGSTER_HOME with the project's dagster.yaml on the fresh database, and
    the sandbox connection's pools limited to 1."""
    from connector_dagster.cli.pools import set_pool_limits

    config = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    monitoring = config["run_monitoring"]
    monitoring.update({k: v for k, v in TEST_MONITORING.items() if k in monitoring})
    (Path(os.environ["DAGSTER_HOME"]) / "dagster.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv(DAGSTER_PG_URL_VAR, db.dagster_url(db_env))
    set_pool_limits(1)
    with dg.DagsterInstance.get() as inst:
        yield inst


@pytest.fixture
def daemon(instance: dg.DagsterInstance, tmp_path: Path) -> Iterator[subprocess.Popen]:
    """`dagster-daemon run` in a process group of its own: its code server, run
    workers and their step processes are all stopped with it."""
    with (tmp_path / "daemon.log").open("w") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", "workspace.yaml"],
            cwd=dagster_cwd(), env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            yield proc
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
