"""The rate limit shared through PostgreSQL by several processes, over a real database and
the sandbox: aggregate rate, deferral after a 429, timezones, an unreachable database."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from connector_dagster.lib import db
from connector_dagster.lib.errors import TransientError
from connector_dagster.lib.ratelimit import LimiterUnavailableError, Rate
from connector_dagster.lib.shared_ratelimit import SharedRateLimiter, shared_limiter_for
from connector_dagster.sandbox.server import SandboxConfig, SandboxProcess
from connector_dagster.systems.ifs.client import IfsClient, IfsSettings
from connector_dagster.systems.servicetitan.client import ServiceTitanClient, ServiceTitanSettings

SPAWN = multiprocessing.get_context("spawn")
ST_LIMIT = 30.0
"""The sandbox's own ServiceTitan limit in the HTTP test, and the clients' configured rate."""


def _slots_worker(url: str, bucket: str, per_s: float, count: int, tz: str, out: Any) -> None:
    """A process taking `count` slots, waiting for each as a client would."""
    os.environ["PGTZ"] = tz  # this process's sessions run in `tz`
    limiter = SharedRateLimiter(url, "servicetitan", bucket, Rate.per_second(per_s))
    slots = []
    for _ in range(count):
        grant = limiter.reserve()
        time.sleep(grant.wait_s)
        slots.append(grant.slot_us)
    conn = db.connect(url)
    with conn.cursor() as cur:
        cur.execute("SELECT current_setting('TimeZone')")
        [zone] = cur.fetchone()
    conn.close()
    out.put((zone, slots))


def _defer_worker(url: str, bucket: str, seconds: float, out: Any) -> None:
    SharedRateLimiter(url, "servicetitan", bucket, Rate.per_second(10)).defer(seconds)
    out.put("deferred")


def _st_worker(settings: dict[str, Any], count: int, start: Any, out: Any) -> None:
    """A process reading ServiceTitan vendors `count` times through its own client."""
    with ServiceTitanClient(ServiceTitanSettings(**settings)) as client:
        start.wait()
        for _ in range(count):
            client.get("inventory", "vendors", {"pageSize": 1})
        out.put(client.transport.requests_sent)


def _run(target: Any, args_per_process: list[tuple[Any, ...]]) -> list[Any]:
    """Run one spawned process per argument tuple; their results, in any order."""
    out = SPAWN.Queue()
    procs = [SPAWN.Process(target=target, args=(*args, out)) for args in args_per_process]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    return results


def _row(url: str, bucket: str) -> dict[str, Any]:
    with db.transaction(url) as cur:
        cur.execute(
            "SELECT (extract(epoch FROM tat) * 1000000)::bigint, per_s, burst, grants "
            "FROM connector.rate_limits WHERE bucket = %s",
            (bucket,),
        )
        tat_us, per_s, burst, grants = cur.fetchone()
    return {"tat_us": tat_us, "per_s": per_s, "burst": burst, "grants": grants}


@pytest.fixture
def tokyo_db(fresh_db: str) -> str:
    """A migrated database whose sessions default to Asia/Tokyo (UTC+9)."""
    name = fresh_db.split("?", 1)[0].rsplit("/", 1)[1]
    admin = db.connect(fresh_db)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"ALTER DATABASE \"{name}\" SET timezone TO 'Asia/Tokyo'")
    admin.close()
    return fresh_db


def test_processes_sharing_a_bucket_get_slots_one_interval_apart_in_any_timezone(
    tokyo_db: str,
) -> None:
    bucket = f"st/{uuid.uuid4().hex[:8]}"
    per_s, count = 500.0, 100
    zones = ["Asia/Tokyo", "UTC", "America/Los_Angeles"]
    results = _run(_slots_worker, [(tokyo_db, bucket, per_s, count, tz) for tz in zones])

    assert sorted(zone for zone, _ in results) == sorted(zones)
    for _, slots in results:
        assert slots == sorted(slots)
    every = sorted(slot for _, slots in results for slot in slots)
    assert len(set(every)) == 3 * count
    interval_us = 1_000_000 / per_s
    assert min(b - a for a, b in itertools.pairwise(every)) >= interval_us
    row = _row(tokyo_db, bucket)
    assert row["grants"] == 3 * count
    assert row["tat_us"] == every[-1] + interval_us


def test_defer_in_one_process_delays_the_others(tokyo_db: str) -> None:
    bucket = f"st/{uuid.uuid4().hex[:8]}"
    limiter = SharedRateLimiter(tokyo_db, "servicetitan", bucket, Rate.per_second(10))
    assert limiter.reserve().wait_s == 0

    assert _run(_defer_worker, [(tokyo_db, bucket, 300.0)]) == ["deferred"]
    deferred_until = _row(tokyo_db, bucket)["tat_us"]

    grant = limiter.reserve()
    assert grant.slot_us == deferred_until
    assert grant.wait_s > 200  # the 300 s asked for, less any time since


def test_a_session_in_tokyo_waits_one_interval_not_nine_hours(tokyo_db: str) -> None:
    bucket = f"st/{uuid.uuid4().hex[:8]}"
    hourly = Rate(1, 3600.0)
    limiter = SharedRateLimiter(tokyo_db, "servicetitan", bucket, hourly)
    first, second = limiter.reserve(), limiter.reserve()
    assert first.wait_s == 0
    assert second.slot_us - first.slot_us == 3600 * 1_000_000
    assert 0 < second.wait_s <= 3600


def test_a_changed_rate_applies_from_the_next_grant(fresh_db: str) -> None:
    bucket = f"st/{uuid.uuid4().hex[:8]}"
    hourly = Rate(1, 3600.0)
    limiter = shared_limiter_for(fresh_db, "servicetitan", bucket, hourly)
    slots = [limiter.reserve().slot_us for _ in range(2)]
    assert shared_limiter_for(fresh_db, "servicetitan", bucket, Rate(2, 3600.0)) is limiter
    slots += [limiter.reserve().slot_us for _ in range(2)]
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert gaps == [3_600_000_000, 3_600_000_000, 1_800_000_000]
    assert _row(fresh_db, bucket)["per_s"] == pytest.approx(2 / 3600)


def test_burst_lets_that_many_go_back_to_back_then_spaces_the_rest(fresh_db: str) -> None:
    bucket = f"st/{uuid.uuid4().hex[:8]}"
    limiter = SharedRateLimiter(fresh_db, "servicetitan", bucket, Rate(3, 3600.0, burst=3))
    waits = [limiter.reserve().wait_s for _ in range(4)]
    assert waits[:3] == [0, 0, 0]
    assert waits[3] > 0


def test_a_connection_dropped_by_the_server_is_reopened(fresh_db: str) -> None:
    bucket = f"st/{uuid.uuid4().hex[:8]}"
    limiter = SharedRateLimiter(fresh_db, "servicetitan", bucket, Rate.per_second(1000))
    limiter.reserve()
    with db.transaction(fresh_db) as cur:
        cur.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s",
            ("connector-dagster rate limit",),
        )
        assert cur.fetchone() == (1,)
    limiter.reserve()
    assert _row(fresh_db, bucket)["grants"] == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_database_fails_the_request_unsent_and_never_unlimited(
    sandbox: dict,
) -> None:
    ifs = sandbox["ifs"]
    base = ifs["base_url"]
    httpx.delete(f"{base}/_sandbox/requests", timeout=10).raise_for_status()
    nowhere = f"postgresql://connector@127.0.0.1:{_free_port()}/connector"
    settings = IfsSettings(
        base_url=base,
        realm=ifs["realm"],
        client_id=ifs["client_id"],
        client_secret=ifs["client_secret"],
        database_url=nowhere,
        max_retries=1,
    )
    with (
        IfsClient(settings) as client,
        pytest.raises(TransientError, match=r"cannot be reached.*no request was sent"),
    ):
        next(client.query("PurchaseOrderHandling.svc/PurchaseOrderSet", keys=("OrderNo",)))
    counts = httpx.get(f"{base}/_sandbox/requests", timeout=10).json()
    assert [c for c in counts if "token" not in c["route"]] == []


def test_database_without_the_migration_says_to_migrate(pg_url: str) -> None:
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = db.connect(pg_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    url = pg_url.replace("/postgres?", f"/{name}?", 1)
    try:
        limiter = SharedRateLimiter(url, "ifs", "host", Rate.per_minute(1000))
        with pytest.raises(LimiterUnavailableError, match="connector-dagster db migrate"):
            limiter.acquire()
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="module")
def st_sandbox() -> Iterator[SandboxProcess]:
    with SandboxProcess(SandboxConfig(ifs_port=0, st_port=0, st_rate_per_s=ST_LIMIT)) as process:
        yield process


def test_three_client_processes_stay_under_the_sandbox_limit_together(
    st_sandbox: SandboxProcess, tokyo_db: str
) -> None:
    st = st_sandbox.info["servicetitan"]
    control = httpx.Client(base_url=st["api_url"], timeout=30)
    control.delete("/_sandbox/requests").raise_for_status()
    settings = {
        key: st[key]
        for key in ("api_url", "auth_url", "tenant_id", "app_key", "client_id", "client_secret")
    }
    settings.update(rate_per_s=ST_LIMIT, database_url=tokyo_db)
    per_process = 40  # 120 requests: at 3 x 30/s unshared, the sandbox's bucket empties in 0.5 s
    start = SPAWN.Barrier(3)
    sent = _run(_st_worker, [(settings, per_process, start) for _ in range(3)])

    counts = [c for c in control.get("/_sandbox/requests").json() if "token" not in c["route"]]
    control.close()
    assert sum(c["count"] for c in counts if c["status"] == 429) == 0
    assert sum(c["count"] for c in counts) == 3 * per_process == sum(sent)
    bucket = f"{urlsplit(st['api_url']).netloc}/{st['tenant_id']}"
    assert _row(tokyo_db, bucket)["grants"] == 3 * per_process
