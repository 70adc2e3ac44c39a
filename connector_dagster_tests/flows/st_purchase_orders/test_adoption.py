"""F5 adopts an IFS PO only when it is what the connector sent: the exact marker in its
reference, entered no earlier than the record's intent, the supplier, site, dates, tax
code and lines of the ServiceTitan PO. A buyer's PO given a copy of the marker is left
as it is and the record parked as a `conflict` naming it. Real HTTP against the
sandbox, a real PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx

from connector_dagster.engine.session import Session
from connector_dagster.kits.purchase_orders.provenance import reference_marker
from connector_dagster.systems.ifs import odata
from connector_dagster_tests.flows import support
from connector_dagster_tests.flows.st_purchase_orders.test_flow import (
    HEADERS,
    LINES,
    PERIOD,
    SYNCABLE,
    failed,
    ifs_raised,
    st_raised,
)

FLOW = "st_purchase_orders"


def ifs_po(order_no: str) -> dict[str, Any]:
    """An IFS PO's header and lines as IFS's API returns them."""
    with Session.open("sandbox") as session:
        [header] = session.ifs.query(
            HEADERS, filter=odata.eq("OrderNo", order_no), keys=("OrderNo",)
        )
        lines = session.ifs.query(
            LINES, filter=odata.eq("OrderNo", order_no), keys=("OrderNo", "LineNo", "ReleaseNo")
        )
        return {"header": dict(header), "lines": sorted(map(dict, lines), key=str)}


def test_a_buyers_po_given_a_copy_of_the_marker_is_untouched_and_a_conflict(
    sandbox_connection: dict,
) -> None:
    """A buyer copies the marker of a ServiceTitan PO the connector has not synced yet
    into the reference of an IFS PO entered long before (another supplier, other lines).
    F5 looks the PO up before its create and finds that IFS PO: it changes nothing in it,
    creates nothing beside it, and parks the record as a conflict naming it."""
    number = sorted(n for n, po in st_raised().items() if po["status"] in SYNCABLE)[0]
    with Session.open("sandbox") as session:
        buyers = next(
            str(row["OrderNo"])
            for row in session.ifs.query(HEADERS, keys=("OrderNo",))
            if row.get("Objstate") == "Planned" and not row.get("Reference")
        )
    marker = reference_marker(number, "sandbox")
    httpx.post(
        f"{sandbox_connection['ifs']['base_url']}/_sandbox/edit",
        json={"set": "PurchaseOrderSet", "key": {"OrderNo": buyers},
              "changes": {"Reference": marker}},
        timeout=10,
    ).raise_for_status()  # fmt: skip
    before = ifs_po(buyers)
    counts = support.write_in_process(FLOW, PERIOD)
    assert counts["adopted"] == 0 and counts["created"] > 0, counts
    assert ifs_po(buyers) == before
    headers, _ = ifs_raised()
    assert [h["OrderNo"] for h in headers[number]] == [buyers]
    key = str(st_raised()[number]["id"])
    parked = failed(FLOW)
    assert set(parked) == {key}, parked
    assert parked[key].reason == "conflict"
    assert number in parked[key].message and buyers in parked[key].message
