"""F3 when the connector's database restarts (or stops for 8 s) mid-write and a second
run of the period starts at once: the first run stops sending, the second waits out its
leases and looks its in-doubt invoices up, and IFS holds one balanced posting set per
invoice (five trials)."""

from __future__ import annotations

from connector_dagster.lib import db
from connector_dagster.lib.store import Store
from connector_dagster_tests.flows.invoices.test_flow import (
    FLOW,
    assert_posted,
    postable,
    st_invoices,
)
from connector_dagster_tests.flows.invoices.test_reliability import CREATES
from connector_dagster_tests.flows.postings import postings, requests
from connector_dagster_tests.flows.restart import OUTAGES_S, restart_mid_write, stop_points
from connector_dagster_tests.pg_restart import RestartablePostgres


def trail(url: str, keys: set[str], trial: object, parked: list) -> str:
    """What the ledger and the audit log say of `keys`, for a failure's message."""
    with db.transaction(url) as cur:
        cur.execute(
            """SELECT source_key, status, target_id, partition_key, first_intent_at
                 FROM connector.sync_ledger WHERE flow = %s AND source_key = ANY(%s)""",
            (FLOW, sorted(keys)),
        )
        rows = cur.fetchall()
        cur.execute(
            """SELECT source_key, action, run_id, target_id, error, at
                 FROM connector.audit_log WHERE flow = %s AND source_key = ANY(%s)
                ORDER BY id""",
            (FLOW, sorted(keys)),
        )
        audit = cur.fetchall()
    return "\n".join(map(str, [trial, parked, *rows, *audit]))


PERIODS = ["2026-06-01", "2026-07-01", "2026-08-01", "2026-09-01", "2026-10-01"]


def test_a_database_restart_mid_write_then_a_second_run_at_once_posts_each_invoice_once(
    sandbox_connection: dict, restartable_db: RestartablePostgres
) -> None:
    ifs = sandbox_connection["ifs"]["base_url"]
    trials = []
    for n, (period, stop_after) in enumerate(zip(PERIODS, stop_points(20261208, 5), strict=True)):
        trial = restart_mid_write(
            restartable_db,
            FLOW,
            period,
            ifs,
            lambda: requests(ifs)[CREATES[False]],
            stop_after,
            OUTAGES_S[n % 2],
        )
        trials.append(trial)
        keys = postable(st_invoices(period))
        assert_posted(keys, period)  # one checked, balanced set per invoice, marked exported
        store = Store(restartable_db.url)
        ledger = store.ledger_for_partition("sandbox", FLOW, period)
        parked = [(f.source_key, f.reason, f.message) for f in store.failed(partition_key=period)]
        store.close()
        sets = postings("ST-INV-")
        linked = {k: e.target_id for k, e in ledger.items() if e.target_id}
        posted = {k: f"ACME01/{sets[f'ST-INV-{k}'][0]['LoadId']}" for k in keys}
        assert linked == posted, trail(restartable_db.url, set(linked) ^ set(posted), trial, parked)
        assert parked == [] and trial.second["leased_elsewhere"] == 0, (trial, parked)
        assert "stopped writing" in trial.first_said and period[:7] in trial.first_said, trial
        assert "database" in trial.first_said, trial
    print("\n".join(map(str, trials)))
