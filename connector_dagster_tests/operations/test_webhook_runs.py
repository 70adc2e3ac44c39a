"""A ServiceTitan webhook, end to end: the sandbox signs and delivers an event, the
receiver verifies and stores it in the inbox, the real daemon's inbox sensor turns it
into a run, and the run posts the updated invoice into IFS. A redelivery writes
nothing more; a forged delivery is refused and leaves no row."""

from __future__ import annotations

import os
import subprocess

import dagster as dg
import httpx

from connector_dagster.lib import inbox
from connector_dagster.lib.store import Store
from connector_dagster.webhooks.server import ReceiverProcess
from connector_dagster_tests.flows import support
from connector_dagster_tests.flows.invoices.test_flow import postable, postings, st_invoices
from connector_dagster_tests.operations.conftest import wait_for

PERIOD = "2026-10-01"
TYPES = ["tn.acc.invoice-updated"]


def inbox_rows(db_env: str) -> list[tuple[str, int, bool]]:
    with Store(db_env).cursor() as cur:
        cur.execute(
            "SELECT occurrence_id, deliveries, processed_at IS NOT NULL "
            "FROM connector.webhook_inbox ORDER BY id"
        )
        return cur.fetchall()


def webhook_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    return list(instance.get_runs(dg.RunsFilter(tags={"connector/trigger": "webhook"})))


def test_a_signed_event_becomes_a_run_that_posts_the_updated_invoice_to_ifs(
    sandbox_connection: dict,
    instance: dg.DagsterInstance,
    daemon: subprocess.Popen,
    db_env: str,
) -> None:
    info = sandbox_connection
    st_base = info["servicetitan"]["api_url"]
    assert support.write_in_process("invoices", PERIOD)["failed"] == 0
    key = sorted(postable(st_invoices()))[0]
    httpx.post(
        f"{st_base}/_sandbox/invoices", json={"id": int(key), "summary": "changed after posting"},
        timeout=10,
    ).raise_for_status()  # fmt: skip

    with ReceiverProcess(dict(os.environ)) as receiver:
        endpoint = receiver.info["endpoints"]["sandbox"]
        emit = {"type": TYPES[0], "invoiceId": int(key), "url": endpoint,
                "userassignedid": "occ-1"}  # fmt: skip
        httpx.post(f"{st_base}/_sandbox/webhooks/emit", json=emit, timeout=10).raise_for_status()
        wait_for("the event in the inbox", lambda: inbox_rows(db_env), 60)

        [run] = wait_for("the inbox sensor's run", lambda: webhook_runs(instance), 240)
        assert run.tags["dagster/partition"] == PERIOD
        done = wait_for(
            "the run to end",
            lambda: instance.get_run_by_id(run.run_id).is_finished or None,
            240,
        )
        assert done and instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.SUCCESS
        [posting] = postings(f"ST-INV-{key}")[f"ST-INV-{key}"]
        assert "changed after posting" in posting["Text"]
        wait_for("the event to be marked processed", lambda: inbox_rows(db_env)[0][2], 120)

        # ServiceTitan delivers the same occurrence again (a new delivery id): stored once,
        # nothing new to run.
        again = {"userassignedid": "occ-1", "url": endpoint}
        httpx.post(f"{st_base}/_sandbox/webhooks/emit", json=again, timeout=10).raise_for_status()
        wait_for("the redelivery", lambda: inbox_rows(db_env)[0][1] == 2, 60)
        assert inbox.pending(Store(db_env), "sandbox", TYPES) == []
        assert len(webhook_runs(instance)) == 1

        # A forged delivery: refused, no row.
        forged = httpx.post(
            endpoint,
            content=b'{"specversion":"1.0","id":"x","source":"st","type":"tn.acc.invoice-updated"}',
            headers={"Content-Type": "application/json", "X-ST-Signature": "00" * 32},
            timeout=10,
        )
        assert forged.status_code == 401
        assert [r[0] for r in inbox_rows(db_env)] == ["occ-1"]
