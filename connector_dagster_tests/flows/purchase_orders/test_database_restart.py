"""F1 when the connector's database restarts (or stops for 8 s) mid-write and a second
run of the period starts at once: the first run stops sending, the second waits out its
leases and looks its in-doubt POs up, and ServiceTitan holds one PO per IFS PO (five
trials)."""

from __future__ import annotations

from connector_dagster.lib.store import Store
from connector_dagster_tests.flows.purchase_orders.test_reliability import (
    PERIODS,
    assert_exactly_once,
    count,
)
from connector_dagster_tests.flows.restart import (
    OUTAGES_S,
    restart_mid_write,
    stop_points,
)
from connector_dagster_tests.pg_restart import RestartablePostgres


def test_a_database_restart_mid_write_then_a_second_run_at_once_writes_each_po_once(
    sandbox_connection: dict, restartable_db: RestartablePostgres
) -> None:
    st_base = sandbox_connection["servicetitan"]["api_url"]
    trials = []
    for n, (period, stop_after) in enumerate(
        zip(PERIODS[5:10], stop_points(20261207, 5), strict=True)
    ):
        trial = restart_mid_write(
            restartable_db,
            "purchase_orders",
            period,
            st_base,
            lambda: count(st_base, "POST", "purchase-orders"),
            stop_after,
            OUTAGES_S[n % 2],
        )
        trials.append(trial)
        statuses = assert_exactly_once(period, restartable_db.url, sandbox_connection)
        assert statuses.get("pending", 0) == 0 and statuses["synced"] > 0, (trial, statuses)
        store = Store(restartable_db.url)
        parked = [(f.source_key, f.reason, f.message) for f in store.failed(partition_key=period)]
        store.close()
        # The period's bad POs (seeded) are parked as ever; nothing else failed.
        assert {reason for _, reason, _ in parked} <= {"validation", "mapping_missing"}, parked
        assert trial.second["leased_elsewhere"] == 0, trial
        assert "stopped writing" in trial.first_said and period[:7] in trial.first_said, trial
        assert "database" in trial.first_said and "Traceback" not in trial.first_said, trial
    print("\n".join(map(str, trials)))
