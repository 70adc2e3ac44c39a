"""The connector's database restarted in the middle of a write, then a second run of
the period started at once: what the lease fencing is for. A real PostgreSQL of the
test's own is stopped (its sessions ended, as a restart does) while the first run has
creates on their way to a slow, jittery target, kept down for a while, started again,
and the second run starts the moment it accepts sessions."""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from connector_dagster.lib import migrate
from connector_dagster_tests.conftest import TIMEOUT_S, seed_vault
from connector_dagster_tests.flows import support
from connector_dagster_tests.pg_restart import RestartablePostgres

OUTAGES_S = (0.0, 8.0)
"""How long the database stays down: a restart, and an outage of 8 s."""
SLOW = {"latency_ms": 300, "latency_jitter_ms": 3500}
"""The target while the first run writes: 300 ms to 3.8 s an answer."""
REQUEST_TIMEOUT_S = 8
"""The clients' read timeout in these tests: above the slowest answer."""


@pytest.fixture
def restartable_db(
    sandbox_connection: dict, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RestartablePostgres]:
    """The sandbox connection on a PostgreSQL of the test's own, which can be
    restarted; its clients wait up to REQUEST_TIMEOUT_S for an answer."""
    pg = RestartablePostgres()
    try:
        migrate.migrate(pg.url)
        seed_vault(pg.url, sandbox_connection)
        monkeypatch.setenv("CONNECTOR_DATABASE_URL", pg.url)
        path = Path(os.environ["CONNECTOR_CONNECTIONS_FILE"])
        path.write_text(
            path.read_text().replace(f"timeout_s: {TIMEOUT_S}", f"timeout_s: {REQUEST_TIMEOUT_S}")
        )
        yield pg
    finally:
        pg.cleanup()


@dataclass
class Trial:
    period: str
    outage_s: float
    creates_before_stop: int
    first_read_s: float
    """From the first run's start to the end of its read."""
    first_wrote_s: float
    """From the first run's start to the database's stop."""
    first_ended_s: float
    """From the database's stop to the first run's exit."""
    first_said: str
    """The last line the first run printed."""
    second_s: float
    """From the database's start to the second run's end (its wait for the leases too)."""
    second: dict[str, int]


def restart_mid_write(
    pg: RestartablePostgres,
    flow: str,
    period: str,
    target_base: str,
    creates: Callable[[], int],
    stop_after: int,
    outage_s: float,
) -> Trial:
    """Start the period's write in a child process against a slow target; once
    `stop_after` creates have been answered, stop the database, keep it down for
    `outage_s` (0: a restart), start it, and run the period again at once, in this
    process, whether or not the first run has ended."""
    httpx.delete(f"{target_base}/_sandbox/requests", timeout=10).raise_for_status()
    support.faults(target_base, **SLOW)
    began = time.monotonic()
    first = support.start_write(flow, period)
    assert first.stdout is not None and first.stdout.readline().strip() == "read"
    read_s = time.monotonic() - began
    while first.poll() is None and creates() < stop_after:
        time.sleep(0.02)
    assert first.poll() is None, f"{period}: the first run ended before the database stopped"
    sent = creates()
    ended: list[float] = []
    stopped = time.monotonic()
    watcher = threading.Thread(target=lambda: (first.wait(), ended.append(time.monotonic())))
    watcher.start()
    pg.stop()
    time.sleep(outage_s)  # the outage itself, not a wait for a state
    pg.start()
    restarted = time.monotonic()
    support.faults(target_base, latency_ms=20)  # the second run's creates need no jitter
    try:
        second = support.write_in_process(flow, period)
        second_s = time.monotonic() - restarted
    finally:
        watcher.join(timeout=300)
        if first.poll() is None:
            first.kill()
            raise AssertionError(f"{period}: the first run went on for 300 s after the restart")
    _, err = first.communicate(timeout=60)
    said = (err.strip().splitlines() or [""])[-1]
    return Trial(
        period, outage_s, sent, round(read_s, 2), round(stopped - began, 2),
        round(ended[0] - stopped, 2), said, round(second_s, 2), second,
    )  # fmt: skip


def stop_points(seed: int, trials: int) -> list[int]:
    """After how many answered creates each trial stops the database."""
    rng = random.Random(int(os.environ.get("RESTART_TRIALS_SEED", seed)))
    return [rng.randint(1, 8) for _ in range(trials)]
