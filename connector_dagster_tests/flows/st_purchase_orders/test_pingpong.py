"""F1 and F5 together, the project's two-way pair: run alternately over the same
periods, neither sends back what the other wrote. After the first pass the purchase
orders in both systems stay as they are and no write reaches either sandbox."""

from __future__ import annotations

from collections import Counter

import httpx

from connector_dagster.engine.session import Session
from connector_dagster.kits.purchase_orders.provenance import marked_order
from connector_dagster.lib.store import Store
from connector_dagster_tests.flows import support
from connector_dagster_tests.flows.st_purchase_orders.test_flow import (
    clear_counts,
    ifs_raised,
    writes,
)

PERIODS = ["2026-09-01", "2026-10-01"]


def po_counts(info: dict) -> tuple[int, int]:
    """Purchase orders in IFS and in ServiceTitan, as the simulators hold them."""
    ifs = httpx.get(f"{info['ifs']['base_url']}/_sandbox/state", timeout=10).json()
    st = httpx.get(f"{info['servicetitan']['api_url']}/_sandbox/state", timeout=10).json()
    return ifs["counts"]["PurchaseOrderSet"], st["counts"]["purchase-orders"]


def one_pass() -> dict[str, Counter]:
    """F5 then F1 over each period, alternately; their write counts."""
    totals: dict[str, Counter] = {"st_purchase_orders": Counter(), "purchase_orders": Counter()}
    for period in PERIODS:
        for flow in totals:
            totals[flow].update(support.write_in_process(flow, period))
    return totals


def test_f1_and_f5_alternately_settle_after_the_first_pass(
    sandbox_connection: dict, db_env: str
) -> None:
    ifs_base = sandbox_connection["ifs"]["base_url"]
    st_base = sandbox_connection["servicetitan"]["api_url"]
    before = po_counts(sandbox_connection)

    # First pass, with what people do in between: a buyer releases each IFS PO made
    # from ServiceTitan (now in a state F1 syncs), and sends each ServiceTitan PO made
    # from IFS to its vendor (now in a status F5 syncs).
    raised = {p: support.write_in_process("st_purchase_orders", p) for p in PERIODS}
    headers, _ = ifs_raised()
    for [header] in headers.values():
        httpx.post(f"{ifs_base}/_sandbox/edit", json={
            "set": "PurchaseOrderSet", "key": {"OrderNo": header["OrderNo"]},
            "changes": {"Objstate": "Released"}}, timeout=10).raise_for_status()  # fmt: skip
    from_ifs = {p: support.write_in_process("purchase_orders", p) for p in PERIODS}
    with Session.open("sandbox") as session:
        f1_pos = [
            po
            for po in session.servicetitan.iter_pages("inventory", "purchase-orders", {})
            if marked_order(po.get("summary"), "sandbox") is not None
        ]
    for po in f1_pos:
        httpx.post(f"{st_base}/_sandbox/purchase-orders/{po['id']}/status",
                   json={"status": "Sent"}, timeout=10).raise_for_status()  # fmt: skip
    assert sum(c["created"] for c in raised.values()) == len(headers) > 0
    assert sum(c["created"] for c in from_ifs.values()) == len(f1_pos) > 0
    assert sum(c["adopted"] for c in from_ifs.values()) == len(headers)  # linked, not sent back
    settled = po_counts(sandbox_connection)
    assert settled == (before[0] + len(headers), before[1] + len(f1_pos))

    # The ledgers hold each link both ways: F5's IFS order number is F1's source key,
    # and F1's ServiceTitan PO id is F5's source key.
    store = Store(db_env)
    f5 = {p: store.ledger_for_partition("sandbox", "st_purchase_orders", p) for p in PERIODS}
    f1 = {p: store.ledger_for_partition("sandbox", "purchase_orders", p) for p in PERIODS}
    store.close()
    for period in PERIODS:
        for st_id, entry in f5[period].items():
            if entry.status == "synced":
                assert f1[period][entry.target_id].target_id == st_id

    for _ in range(2):
        clear_counts(ifs_base, st_base)
        totals = one_pass()
        assert writes(ifs_base) == Counter() and writes(st_base) == Counter()
        for counts in totals.values():
            assert counts["created"] == counts["updated"] == counts["adopted"] == 0, totals
            assert counts["cancelled"] == counts["failed"] == 0, totals
        assert po_counts(sandbox_connection) == settled
