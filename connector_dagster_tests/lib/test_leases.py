"""Per-record leases fenced in time, on a real PostgreSQL: a live holder keeps its
records, a holder that stopped renewing is waited out (lease + in-flight bound), a
holder that cannot prove its lease sends nothing, and a period of any size takes its
leases without the server's lock table."""

from __future__ import annotations

import threading
import time

import pytest

from connector_dagster.engine.records import Outbound
from connector_dagster.engine.sync import Syncer
from connector_dagster.lib import fence
from connector_dagster.lib.fence import LeaseLost
from connector_dagster.lib.leases import Leases, LeaseTerms
from connector_dagster.lib.store import Store
from connector_dagster_tests.engine.test_sync_lookups import Notes
from connector_dagster_tests.pg_restart import RestartablePostgres


class SharedNotes(Notes):
    """The in-memory target, safe for the protocol's writer threads."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def create(self, record: Outbound) -> str:
        with self._lock:
            return super().create(record)


FAST = LeaseTerms(ttl_s=1.5, renew_s=0.25, in_flight_s=1.0, poll_s=0.05)
ROOMY = LeaseTerms(ttl_s=10, renew_s=1, in_flight_s=1.0, poll_s=0.05)
"""For a test about sizes, not time: a busy machine's slow renewal does not stop it."""


def leases(url: str, terms: LeaseTerms = FAST) -> Leases:
    return Leases(url, "c", "f", terms, run_id="test")


def test_a_live_holder_keeps_its_records_and_a_released_one_frees_them(fresh_db: str) -> None:
    with leases(fresh_db) as first:
        assert first.take(["a", "b"]) == {"a", "b"}
        with leases(fresh_db) as second:
            started = time.monotonic()
            assert second.take(["a", "b", "c"]) == {"c"}  # a and b: first renews them
            assert time.monotonic() - started < FAST.in_doubt_s
    with leases(fresh_db) as third:
        assert third.take(["a", "b", "c"]) == {"a", "b", "c"}  # all released


def test_a_holder_that_stopped_renewing_is_waited_out_then_its_records_taken(
    fresh_db: str,
) -> None:
    """A step dies without releasing (its process gone, its rows left): the next step
    takes its records only once its lease expired and its requests timed out."""
    dead = leases(fresh_db).open()
    dead.take(["a", "b"])
    dead._stop.set()  # it renews no more, like a killed process
    stopped = time.monotonic()
    with leases(fresh_db) as heir:
        assert heir.take(["a", "b"]) == {"a", "b"}
        waited = time.monotonic() - stopped
    # Its last renewal was at most renew_s before it stopped: the heir cannot have
    # taken them before expiry + in-flight bound.
    assert waited >= FAST.ttl_s - FAST.renew_s + FAST.in_flight_s - 0.1, waited
    dead._conn.close()


def test_a_holder_that_cannot_prove_its_lease_sends_nothing(fresh_db: str) -> None:
    held = leases(fresh_db).open()
    held.take(["a"])
    held._stop.set()  # renewals stop (a database that went away, a starved thread)
    with fence.fenced(held):
        fence.check()  # still provably held
        time.sleep(FAST.ttl_s)
        with pytest.raises(LeaseLost, match="could not be renewed"):
            fence.check()
    held.release()


def test_a_lost_database_stops_the_holder_at_its_next_renewal(fresh_db: str) -> None:
    from connector_dagster.lib import db

    held = leases(fresh_db).open()
    held.take(["a"])
    with db.transaction(fresh_db) as cur:  # what a restart does to its session
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'connector-leases'"
        )
    deadline = time.monotonic() + 30
    while held.lost is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert held.lost is not None and "database" in held.lost
    with pytest.raises(LeaseLost, match="was lost"):
        held.check()
    held.release()


def test_twenty_thousand_records_take_their_leases_with_a_tiny_lock_table() -> None:
    """Advisory locks needed one lock-table slot per record (14,000 failed with 'out of
    shared memory'). On a server whose lock table holds about three thousand locks
    (max_locks_per_transaction = 32), where 20,000 advisory locks in one session fail,
    20,000 records are leased, renewed and released, then written through the write
    protocol."""
    import psycopg2

    from connector_dagster.lib import db, migrate

    pg = RestartablePostgres()
    try:
        admin = db.connect(pg.url)
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("ALTER SYSTEM SET max_locks_per_transaction = 32")
        admin.close()
        pg.restart()
        with db.transaction(pg.url) as cur:
            cur.execute("SHOW max_locks_per_transaction")
            assert cur.fetchone()[0] == "32"
        migrate.migrate(pg.url)
        keys = [f"INV-{i:06d}" for i in range(20_000)]
        with Leases(pg.url, "c", "f", ROOMY) as held:
            assert held.take(keys) == set(keys)
            held.renew()
            held.check()
            with Leases(pg.url, "c", "f", ROOMY) as other:
                assert other.take(keys[:100]) == set()  # held, renewed: left to it
        with Leases(pg.url, "c", "f", ROOMY) as again:
            assert again.take(keys) == set(keys)  # released
        # ... and the period is written through the protocol, each record once.
        store = Store(pg.url, max_connections=20)
        target = SharedNotes()
        records = [Outbound(k, "2026-10-01", {"body": k}, "v1") for k in keys]
        report = Syncer(store, target, "c", "notes", workers=16, terms=ROOMY).run(records)
        assert len(report.created) == 20_000 and not report.failed and not report.leased
        assert len(target.rows) == 20_000
        statuses = {e.status for e in store.ledger("c", "notes", keys).values()}
        store.close()
        assert statuses == {"synced"}
        # The old way, last (a lock table that overflowed may keep the server's spare
        # shared memory): advisory locks for the same records do not fit.
        with (
            pytest.raises(psycopg2.Error, match="out of shared memory"),  # the old way
            db.transaction(pg.url) as cur,
        ):
            cur.execute(
                "SELECT count(*) FROM generate_series(1, 20000) AS g WHERE pg_try_advisory_lock(g)"
            )
    finally:
        pg.cleanup()
