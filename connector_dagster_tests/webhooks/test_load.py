"""The receiver under load, as a child process on a free port against the test
PostgreSQL: concurrent signed deliveries with repeats are all stored exactly once,
and a receiver killed with SIGKILL mid-load has stored every event it acknowledged.
No timing is asserted (`connector-dagster bench webhooks-load` measures speed)."""

from __future__ import annotations

import os
import signal
import threading

from connector_dagster.bench.webhooks import (
    Outcome,
    build_deliveries,
    inbox_counts,
    load,
    prepared,
    send,
)
from connector_dagster.webhooks.config import registration_url
from connector_dagster.webhooks.server import ReceiverProcess
from connector_dagster_tests.webhooks.support import wait_until


def test_a_thousand_events_from_twenty_clients_are_stored_exactly_once(fresh_db: str) -> None:
    result = load(fresh_db, events=1000, clients=20, duplicate_share=0.1)

    assert (result["events"], result["distinct"]) == (1000, 900)
    assert result["statuses"] == {"200": 1000}
    assert result["answered_5xx"] == 0
    assert (result["inbox_rows"], result["missing"], result["doubled"]) == (900, 0, 0)


def test_a_receiver_killed_mid_load_loses_no_acknowledged_event(fresh_db: str) -> None:
    with prepared(fresh_db) as setup:
        receiver = ReceiverProcess(setup.env).start()
        try:
            base = receiver.info["url"]
            deliveries = build_deliveries(
                registration_url(base, setup.connection), setup.key, 5000, 0.1
            )
            outcomes: list[Outcome] = []
            loader = threading.Thread(target=lambda: outcomes.extend(send(base, deliveries, 20)[0]))
            loader.start()
            wait_until(lambda: sum(inbox_counts(fresh_db, setup.connection).values()) >= 300)
            os.kill(receiver.pid, signal.SIGKILL)
            loader.join(timeout=120)
        finally:
            receiver.stop()
        stored = inbox_counts(fresh_db, setup.connection)

    acknowledged = {o.occurrence_id for o in outcomes if o.status == 200}
    unanswered = [o for o in outcomes if o.status is None]
    assert len(outcomes) == 5000
    assert acknowledged and unanswered, "the kill did not fall in the middle of the load"
    assert all(o.status in (200, None) for o in outcomes)
    assert acknowledged <= set(stored)
    assert max(stored.values()) == 1
