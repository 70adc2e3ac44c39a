"""F1 adopts an in-doubt ServiceTitan PO only when it is what the connector sent: the
exact memo marker, made after the intent, the same content. A buyer's copy of the
marker is left as it is and the record parked as a `conflict` naming both ids. Real
HTTP against the sandbox, a real PostgreSQL, a run killed in a child process."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connector_dagster.engine.session import Session
from connector_dagster.lib.store import FailedRecord, Store
from connector_dagster_tests.flows.purchase_orders.test_reliability import (
    count,
    crash,
    st_pos,
    write_in_process,
)

PERIOD = "2026-10-01"


def buyers_po(memo: str) -> dict[str, Any]:
    """A PO a buyer keys in ServiceTitan: another vendor, site, dates and items."""
    return {
        "vendorId": 3101, "typeId": 12, "businessUnitId": 501, "inventoryLocationId": 77,
        "shipTo": {"description": "North", "address": {
            "street": "1 A St", "unit": "", "city": "Glendale", "state": "CA",
            "zip": "91203", "country": "USA"}},
        "vendorInvoiceNumber": "", "impactsTechnicianPayroll": False, "memo": memo,
        "date": "2026-10-05T00:00:00Z", "requiredOn": "2026-10-09T00:00:00Z", "tax": 0,
        "shipping": 0,
        "items": [{"skuId": 55501, "description": "elbow", "vendorPartNumber": "P-10001",
                   "quantity": 1, "cost": 10}],
    }  # fmt: skip


def failure(db_url: str, key: str) -> FailedRecord:
    store = Store(db_url)
    try:
        [found] = [f for f in store.failed(connection="sandbox") if f.source_key == key]
    finally:
        store.close()
    return found


@pytest.mark.parametrize(
    "memo",
    [
        "Copy of IFS PO {key} [connector:sandbox] (dup by buyer)",
        "IFS PO {key} [connector:sandbox]",
    ],
    ids=["marker-inside-other-text", "exact-marker-other-content"],
)
def test_a_buyers_po_carrying_a_copy_of_the_marker_is_left_alone_and_a_conflict(
    sandbox_connection: dict, db_env: str, memo: str
) -> None:
    """A run intends a PO and dies before creating it; a buyer then keys a PO whose memo
    holds a copy of its marker (inside other text, or exactly) with other content. The
    re-run changes nothing in ServiceTitan, creates nothing beside it, and parks the
    record as a conflict naming the IFS order and the buyer's PO."""
    [key] = crash(after_create=False)
    with Session.open("sandbox") as session:
        st = session.servicetitan
        hand = str(st.create("inventory", "purchase-orders", buyers_po(memo.format(key=key)))["id"])
        before = st.get("inventory", f"purchase-orders/{hand}")
    counts = write_in_process(PERIOD)
    with Session.open("sandbox") as session:
        after = session.servicetitan.get("inventory", f"purchase-orders/{hand}")
    assert after == before
    assert counts["adopted"] == 0 and counts["failed"] == 1, counts
    parked = failure(db_env, key)
    assert parked.reason == "conflict"
    assert repr(key) in parked.message and hand in parked.message, parked.message
    assert [str(po["id"]) for po in st_pos(sandbox_connection)[key]] == [hand]


def test_the_connectors_own_po_is_adopted_after_a_crash_right_after_its_create(
    sandbox_connection: dict, db_env: str
) -> None:
    """A run dies right after ServiceTitan made its PO: the re-run adopts that PO (exact
    marker, made after the intent, the content sent), writes no second one, and does
    not patch it: it already holds what would be sent."""
    key, target_id = crash(after_create=True)
    st_base = sandbox_connection["servicetitan"]["api_url"]
    httpx.delete(f"{st_base}/_sandbox/requests", timeout=10).raise_for_status()
    counts = write_in_process(PERIOD)
    assert counts["adopted"] == 1 and counts["failed"] == 0, counts
    assert count(st_base, "PATCH", "purchase-orders") == 0
    assert [str(po["id"]) for po in st_pos(sandbox_connection)[key]] == [target_id]
    store = Store(db_env)
    entry = store.ledger_for_partition("sandbox", "purchase_orders", PERIOD)[key]
    store.close()
    assert (entry.status, entry.target_id) == ("synced", target_id)
