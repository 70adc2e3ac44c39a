"""F5's change sensor: ServiceTitan's purchase-order export feed, polled from a cursor.
One request when nothing changed; a PO changed in an older period requests a run of
that period; the POs F1 writes into ServiceTitan request nothing."""

from __future__ import annotations

import dagster as dg
import httpx

from connector_dagster.defs.st_purchase_orders.spec import SPEC
from connector_dagster.engine.session import Session
from connector_dagster_tests.flows import support
from connector_dagster_tests.flows.st_purchase_orders.test_bad_input import st_change
from connector_dagster_tests.flows.st_purchase_orders.test_flow import (
    clear_counts,
    counts,
    defs,
    st_raised,
)


def test_nothing_changed_is_one_request_and_a_changed_po_requests_its_period(
    sandbox_connection: dict,
) -> None:
    st_base = sandbox_connection["servicetitan"]["api_url"]
    with Session.open("sandbox") as session:
        source = SPEC.source(session, session.connection.flow(SPEC.name))
        first = source.changes(None)
        assert first.periods == {}
        clear_counts(st_base)
        quiet = source.changes(first.cursor)
        assert (quiet.periods, quiet.cursor, quiet.requests) == ({}, first.cursor, 1)
        assert sum(n for (m, r), n in counts(st_base).items() if m == "GET") == 1

        support.write_in_process("purchase_orders", "2026-10-01")  # F1 writes into ServiceTitan
        po = next(p for p in st_raised("2026-09-01").values() if p["status"] == "Sent")
        st_change(po)
        changed = source.changes(quiet.cursor)
    assert changed.periods == {"2026-09-01": 1}

    [sensor] = defs().sensors
    tick = sensor(dg.build_sensor_context(cursor=None))
    assert tick.run_requests == []
    httpx.post(f"{st_base}/_sandbox/purchase-orders/{po['id']}/status",
               json={"status": "Received"}, timeout=10).raise_for_status()  # fmt: skip
    [request] = sensor(dg.build_sensor_context(cursor=tick.cursor)).run_requests
    assert request.partition_key == "2026-09-01"
    assert request.run_key.startswith("st_purchase_orders-2026-09-01-")
