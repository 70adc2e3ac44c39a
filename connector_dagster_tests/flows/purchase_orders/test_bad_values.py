"""F1 with values IFS holds but no one should write: a NUL character in a line's
description (PostgreSQL cannot hold it), a unit price of 10^12, one of 10^-7 and a
quantity of 10^7. The read succeeds; the NUL is cleaned from the text and that PO is
written; the absurd ones are parked as `validation` naming the PO, the field and the
bound; every other PO of the period is written, and ServiceTitan holds nothing absurd.
Real HTTP to both simulators, real PostgreSQL."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import httpx

from connector_dagster.lib.store import Store
from connector_dagster_tests.flows import support
from connector_dagster_tests.flows.purchase_orders.test_flow import (
    PERIOD,
    SYNCABLE,
    ifs_period_pos,
    materialize,
    st_pos_by_order,
)


def edit_line(info: dict, line: dict, **changes: object) -> None:
    """An IFS user changes a PO line."""
    key = {"OrderNo": line["OrderNo"], "LineNo": line["LineNo"], "ReleaseNo": line["ReleaseNo"]}
    httpx.post(
        f"{info['ifs']['base_url']}/_sandbox/edit",
        json={"set": "PurchaseOrderLineSet", "key": key, "changes": changes},
        timeout=10,
    ).raise_for_status()


def test_a_nul_in_a_description_is_cleaned_and_absurd_prices_are_parked_the_rest_written(
    sandbox_connection: dict, db_env: str
) -> None:
    headers, lines = ifs_period_pos()
    syncable = sorted(k for k, h in headers.items() if h["Objstate"] in SYNCABLE and lines[k])
    nul, huge, tiny, many = syncable[:4]
    first = {k: min(lines[k], key=lambda ln: Decimal(str(ln["LineNo"]))) for k in syncable[:4]}
    edit_line(sandbox_connection, first[nul], Description="Copper\u0000 elbow\u0007 1/2in")
    edit_line(sandbox_connection, first[huge], BuyUnitPrice=10**12)
    edit_line(sandbox_connection, first[tiny], BuyUnitPrice=1e-7)
    edit_line(sandbox_connection, first[many], BuyQtyDue=10**7)

    result = materialize()
    read = result.get_step_success_events()
    assert any(e.step_key.endswith("ifs_purchase_orders") for e in read), "the read failed"
    [check] = result.get_asset_check_evaluations()
    assert check.passed
    cleaned = next(
        m for m in result.get_asset_materialization_events()
        if m.asset_key.path[-1] == "ifs_purchase_orders"
    ).materialization.metadata  # fmt: skip
    assert cleaned["cleaned_text"].value == 1
    assert nul in str(cleaned["cleaned_text_where"].value)
    assert not result.success  # the write step parks the absurd ones, then fails

    store = Store(db_env)
    try:
        parked = {f.source_key: f for f in store.failed(connection="sandbox")}
    finally:
        store.close()
    assert set(parked) == {huge, tiny, many}
    assert all(f.reason == "validation" for f in parked.values())
    assert "cost (IFS BuyUnitPrice) 1000000000000 is above" in parked[huge].message
    assert "(bounds.max_amount): correct it in IFS" in parked[huge].message
    assert "cost (IFS BuyUnitPrice) 0.0000001 has 7 decimal places" in parked[tiny].message
    assert "bounds.decimal_places" in parked[tiny].message
    assert "quantity (IFS BuyQtyDue) 10000000 is above" in parked[many].message
    assert "bounds.max_quantity" in parked[many].message
    assert all(f"PO {k!r}" in parked[k].message for k in parked)

    st = st_pos_by_order()
    every = {k for k, h in headers.items() if h["Objstate"] in SYNCABLE}
    assert set(st) == every - {huge, tiny, many}
    [po] = st[nul]
    descriptions = [i["description"] for i in po["items"]]
    assert "Copper elbow 1/2in" in descriptions
    assert not any("\x00" in d or "\x07" in d for d in descriptions)
    for [po] in st.values():
        assert Decimal(str(po["total"])) <= 10**8
        for item in po["items"]:
            cost, quantity = Decimal(str(item["cost"])), Decimal(str(item["quantity"]))
            assert cost <= 10**8 and quantity <= 10**6
            assert cost == cost.quantize(Decimal("0.0001"))


def set_flow(block: str) -> None:
    """F1's block under `flows:` of the sandbox connection in the test's connections file."""
    path = Path(os.environ["CONNECTOR_CONNECTIONS_FILE"])
    text, line = path.read_text(), "      purchase_orders: {}\n"
    assert line in text
    path.write_text(text.replace(line, line.replace("{}", block)))


def test_a_price_above_the_default_bound_is_parked_until_the_flow_raises_its_bound(
    sandbox_connection: dict, db_env: str
) -> None:
    headers, lines = ifs_period_pos()
    key = sorted(k for k, h in headers.items() if h["Objstate"] in SYNCABLE and lines[k])[0]
    line = min(lines[key], key=lambda ln: Decimal(str(ln["LineNo"])))
    edit_line(sandbox_connection, line, BuyUnitPrice=250_000_000, BuyQtyDue=2)

    assert not materialize().success
    store = Store(db_env)
    try:
        [parked] = store.failed(connection="sandbox")
        assert (parked.source_key, parked.reason) == (key, "validation")
        assert "cost (IFS BuyUnitPrice) 250000000 is above the flow's bound 100000000" in (
            parked.message
        )
        assert "`flows: purchase_orders:`" in parked.message
        assert key not in st_pos_by_order()

        set_flow("{bounds: {max_amount: 1000000000}}")
        assert materialize().success
        assert store.failed(connection="sandbox") == []
    finally:
        store.close()
    [po] = st_pos_by_order()[key]
    assert Decimal(str(po["total"])) >= 500_000_000


def test_outside_dagster_a_nul_never_leaves_a_po_pending(
    sandbox_connection: dict, db_env: str
) -> None:
    """The read and write called as the replay and the CLI call them (no asset snapshot):
    the PO with a NUL is created once and recorded `synced`, not left `pending` by a
    ledger row PostgreSQL refuses."""
    headers, lines = ifs_period_pos()
    key = sorted(k for k, h in headers.items() if h["Objstate"] in SYNCABLE and lines[k])[0]
    line = min(lines[key], key=lambda ln: Decimal(str(ln["LineNo"])))
    edit_line(sandbox_connection, line, Description="Flux\u0000 paste")
    counts = support.write_in_process("purchase_orders", PERIOD)
    assert counts["failed"] == 0
    store = Store(db_env)
    try:
        entry = store.ledger("sandbox", "purchase_orders", [key])[key]
    finally:
        store.close()
    assert entry.status == "synced"
    [po] = st_pos_by_order()[key]
    assert "Flux paste" in [i["description"] for i in po["items"]]
