"""A run whose worker is killed with SIGKILL gives its concurrency-pool slot back
without an operator, and the next scheduled run, queued behind it, completes.

A real `dagster-daemon` against PostgreSQL storage and the project's
dagster.yaml; the run monitoring intervals are shortened in the test's copy.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import httpx
import yaml

from connector_dagster.lib.settings import PROJECT_ROOT
from connector_dagster_tests.operations.conftest import dagster_cwd, wait_for

log = logging.getLogger(__name__)

JOB = "sandbox_purchase_orders_job"
SCHEDULE = "sandbox_purchase_orders_poll_schedule"
TICK = datetime(2026, 10, 20, 18, tzinfo=UTC)  # a poll tick of the 2026-10 period
TERMINAL = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
# Slow ServiceTitan writes, so the killed run is mid-write and holds its slot while
# the next run is launched (16 writer threads: about 30 s for a period).
SLOW_WRITES = {"latency_ms": 10000, "methods": ["POST", "PATCH"]}


def poll_tick_tags() -> dict[str, str]:
    """The tags of the run the project's poll schedule requests at TICK."""
    from connector_dagster.definitions import defs

    schedule = defs.resolve_schedule_def(SCHEDULE)
    with (
        dg.instance_for_test() as scratch,
        dg.build_schedule_context(
            instance=scratch,
            scheduled_execution_time=TICK,
            repository_def=defs.get_repository_def(),
        ) as ctx,
    ):
        [request] = schedule.evaluate_tick(ctx).run_requests
    return {
        **request.tags,
        **dg.DagsterRun.tags_for_schedule(schedule),
        "dagster/partition": request.partition_key,
    }


def submit(tags: dict[str, str]) -> str:
    """Submit a run of the job to the queued run coordinator, as a schedule tick does."""
    run_id = str(uuid.uuid4())
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "job", "launch", "-w", "workspace.yaml",
         "-j", JOB, "--tags", json.dumps(tags), "--run-id", run_id],
        cwd=dagster_cwd(), env=dict(os.environ), capture_output=True, text=True, timeout=180,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return run_id


def run_worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid the code server gave the run's worker process (from its engine event)."""
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        if record.message.startswith("Started process for run"):
            return int(record.dagster_event.engine_event_data.metadata["pid"].value)
    return None


def holders(instance: dg.DagsterInstance, pool: str) -> set[str]:
    """Runs holding a slot of the pool."""
    info = instance.event_log_storage.get_concurrency_info(pool)
    return {slot.run_id for slot in info.claimed_slots}


def waiting(instance: dg.DagsterInstance, pool: str) -> set[str]:
    """Runs with a step queued for a slot of the pool and not yet given one."""
    info = instance.event_log_storage.get_concurrency_info(pool)
    return {step.run_id for step in info.pending_steps if step.assigned_timestamp is None}


def status(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRunStatus:
    return instance.get_run_by_id(run_id).status


def st_writes(st_base: str) -> int:
    rows = httpx.get(f"{st_base}/_sandbox/requests", timeout=10).json()
    rows = rows["requests"] if isinstance(rows, dict) else rows
    return sum(r["count"] for r in rows if r["method"] in SLOW_WRITES["methods"])


def test_killed_run_frees_its_pool_slot_and_the_next_scheduled_run_completes(
    sandbox_connection: dict, instance: dg.DagsterInstance, daemon: subprocess.Popen
) -> None:
    st_base = sandbox_connection["servicetitan"]["api_url"]
    pool = f"servicetitan_{sandbox_connection['servicetitan']['tenant_id']}"
    httpx.put(f"{st_base}/_sandbox/faults", json=SLOW_WRITES, timeout=10).raise_for_status()
    tags = poll_tick_tags()

    # Both runs are queued at once, so that whichever reaches the pool second finds the
    # other mid-write: submitted one after the other, a busy machine took longer to start
    # the second run than the first took to write, and nothing ever queued.
    runs = (submit(tags), submit(tags))

    def one_holds_and_one_waits() -> tuple[str, str] | None:
        held, queued = holders(instance, pool), waiting(instance, pool)
        for holder, waiter in (runs, runs[::-1]):
            if holder in held and waiter in queued and st_writes(st_base) > 0:
                return holder, waiter
        return None

    killed, following = wait_for(
        "one run to hold the ServiceTitan pool mid-write and the other to queue behind it",
        one_holds_and_one_waits,
    )

    worker = wait_for("the first run's worker pid", lambda: run_worker_pid(instance, killed))
    os.kill(worker, signal.SIGKILL)
    killed_at = time.monotonic()
    httpx.put(f"{st_base}/_sandbox/faults", json={}, timeout=10).raise_for_status()

    wait_for("the killed run to end", lambda: status(instance, killed) in TERMINAL)
    ended_at = time.monotonic()
    wait_for("the killed run's slot to be freed", lambda: killed not in holders(instance, pool))
    freed_at = time.monotonic()
    wait_for("the next run to end", lambda: status(instance, following) in TERMINAL)
    log.info(
        "after SIGKILL: run ended %.1f s, slot freed %.1f s, next run done %.1f s",
        ended_at - killed_at, freed_at - killed_at, time.monotonic() - killed_at,
    )  # fmt: skip

    assert status(instance, killed) == dg.DagsterRunStatus.FAILURE
    assert status(instance, following) == dg.DagsterRunStatus.SUCCESS
    assert killed not in holders(instance, pool) | waiting(instance, pool)


def test_project_instance_frees_the_slots_of_dead_runs() -> None:
    """Production's dagster.yaml: monitoring on, dead runs' slots freed, a runtime ceiling."""
    monitoring = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())["run_monitoring"]
    assert monitoring["enabled"] is True
    assert monitoring["free_slots_after_run_end_seconds"] > 0
    assert monitoring["max_runtime_seconds"] > 0


def test_two_runs_of_one_period_with_pool_limit_2_write_each_po_once(
    sandbox_connection: dict, instance: dg.DagsterInstance, daemon: subprocess.Popen, db_env: str
) -> None:
    """The ServiceTitan pool allows two steps at once, and the same period is launched
    twice: both write steps run together, both runs succeed, and ServiceTitan holds
    one PO per synced IFS PO (the leases leave each record to one run)."""
    from connector_dagster.cli.pools import set_pool_limits
    from connector_dagster.lib.store import Store
    from connector_dagster_tests.flows.purchase_orders.test_reliability import (
        assert_exactly_once,
    )

    set_pool_limits(2)
    st_base = sandbox_connection["servicetitan"]["api_url"]
    pool = f"servicetitan_{sandbox_connection['servicetitan']['tenant_id']}"
    httpx.put(f"{st_base}/_sandbox/faults", json=SLOW_WRITES, timeout=10).raise_for_status()
    tags = poll_tick_tags()
    with ThreadPoolExecutor(2) as launch:
        runs = list(launch.map(submit, [tags, tags]))
    wait_for("both runs' write steps to hold the ServiceTitan pool at once",
             lambda: set(runs) <= holders(instance, pool))  # fmt: skip
    httpx.put(f"{st_base}/_sandbox/faults", json={}, timeout=10).raise_for_status()
    for run_id in runs:
        wait_for(f"run {run_id} to end", lambda run_id=run_id: status(instance, run_id) in TERMINAL)
    assert [status(instance, r) for r in runs] == [dg.DagsterRunStatus.SUCCESS] * 2
    statuses = assert_exactly_once(tags["dagster/partition"], db_env, sandbox_connection)
    store = Store(db_env)
    synced = sum(
        1
        for e in store.ledger_for_partition("sandbox", "purchase_orders", "2026-10-01").values()
        if e.status == "synced"
    )
    store.close()
    assert statuses["synced"] == synced > 0
