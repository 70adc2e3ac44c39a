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


def test_refused_credentials_stop_the_write_in_one_line_before_anything_is_sent(
    sandbox_connection: dict, db_env: str
) -> None:
    """ServiceTitan refuses the connection's secret when the write step first asks it
    (for the master data its mapping entries are checked against): the step stops with
    one line naming the cause, the period and the fix, and intends nothing; with the
    secret back, one run writes each PO once."""
    from connector_dagster.engine.sync import WriteStopped
    from connector_dagster.systems.vault import Vault
    from connector_dagster_tests.flows import support

    period = "2026-10-01"
    store = Store(db_env)
    vault = Vault(store)
    vault.set("sandbox", "servicetitan", "client_secret", "not-the-secret")
    try:
        support.write_in_process("purchase_orders", period)
        raise AssertionError("the write went on with refused credentials")
    except WriteStopped as stopped:
        said = str(stopped)
    assert "\n" not in said and "purchase_orders 2026-10 on sandbox: stopped before writing" in said
    assert "credentials set sandbox" in said and "nothing was sent" in said, said
    assert store.ledger_for_partition("sandbox", "purchase_orders", period) == {}
    # In Dagster the step fails with that line, not a stack trace.
    result = support.materialize("purchase_orders", period)
    [failure] = [e for e in result.all_events if e.is_step_failure]
    data = failure.step_failure_data
    assert data.user_failure_data is not None, data
    assert "stopped before writing" in data.user_failure_data.description
    assert "credentials set sandbox" in data.user_failure_data.description
    vault.set(
        "sandbox",
        "servicetitan",
        "client_secret",
        sandbox_connection["servicetitan"]["client_secret"],
    )
    store.close()
    counts = support.write_in_process("purchase_orders", period)
    assert counts["created"] > 0 and counts["adopted"] == 0, counts
    assert_exactly_once(period, db_env, sandbox_connection)


def test_credentials_refused_mid_write_stop_it_in_one_line_and_take_back_unsent_intents(
    sandbox_connection: dict, db_env: str
) -> None:
    """IFS refuses the connection's secret at F5's first look-up, after the step
    intended its first page: the step stops with one line naming the cause, the period
    and the fix, and takes back the intents it never sent (no `pending` row left)."""
    from connector_dagster.engine.sync import WriteStopped
    from connector_dagster.systems.vault import Vault
    from connector_dagster_tests.flows import support

    period = "2026-10-01"
    store = Store(db_env)
    vault = Vault(store)
    vault.set("sandbox", "ifs", "client_secret", "not-the-secret")
    try:
        support.write_in_process("st_purchase_orders", period)
        raise AssertionError("the write went on with refused credentials")
    except WriteStopped as stopped:
        said = str(stopped)
    finally:
        vault.set("sandbox", "ifs", "client_secret", sandbox_connection["ifs"]["client_secret"])
    assert "\n" not in said and "st_purchase_orders 2026-10 on sandbox: stopped writing" in said
    assert "credentials set sandbox" in said and "never sent were taken back" in said, said
    ledger = store.ledger_for_partition("sandbox", "st_purchase_orders", period)
    store.close()
    assert [k for k, e in ledger.items() if e.status == "pending"] == []
