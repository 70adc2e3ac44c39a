"""F1 reading a period it has read before: the lines of an order are read again only
when the order is new, its header changed, or IFS's History Log names it since the last
read; the others' lines are kept from that read. In IFS a changed line leaves its
order's header ETag as it was, so these tests change lines alone, as a person would,
including while a read is running. Real HTTP, real PostgreSQL."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from connector_dagster.defs.purchase_orders.settings import PurchaseOrderSettings
from connector_dagster.defs.purchase_orders.source import IfsPurchaseOrders
from connector_dagster.systems.ifs import history
from connector_dagster_tests.flows.purchase_orders.test_flow import (
    SYNCABLE,
    clear_counts,
    clients,
    edit_po,
    ifs_period_pos,
    materialize,
    st_pos_by_order,
    writes,
)

READ_ASSET = "ifs_purchase_orders"


def set_flow(block: str) -> None:
    """F1's block under `flows:` of the sandbox connection, whatever it was."""
    path = Path(os.environ["CONNECTOR_CONNECTIONS_FILE"])
    text, found = re.subn(r"(?m)^      purchase_orders: \{.*\}$", f"      purchase_orders: {block}",
                          path.read_text())  # fmt: skip
    assert found == 1
    path.write_text(text)


def read_metadata(result) -> dict:
    [meta] = [
        m.materialization.metadata
        for m in result.get_asset_materialization_events()
        if m.asset_key.path[-1] == READ_ASSET
    ]
    return {k: v.value for k, v in meta.items()}


def requests_for(base: str, marker: str) -> int:
    rows = httpx.get(f"{base}/_sandbox/requests", timeout=10).json()
    rows = rows["requests"] if isinstance(rows, dict) else rows
    return sum(r["count"] for r in rows if r["method"] == "GET" and marker in r["route"])


def edit_line(info: dict, line: dict, **changes: object) -> None:
    """Change one PO line in IFS as a user would: its header is left as it was."""
    key = {k: line[k] for k in ("OrderNo", "LineNo", "ReleaseNo")}
    httpx.post(
        f"{info['ifs']['base_url']}/_sandbox/edit",
        json={"set": "PurchaseOrderLineSet", "key": key, "changes": changes},
        timeout=10,
    ).raise_for_status()


def synced_orders() -> tuple[dict[str, dict], dict[str, list[dict]], list[str]]:
    headers, lines = ifs_period_pos()
    keys = sorted(k for k, h in headers.items() if h["Objstate"] in SYNCABLE and lines[k])
    return headers, lines, keys


def st_cost(order_no: str, part_no: str) -> Decimal:
    [po] = st_pos_by_order()[order_no]
    [item] = [i for i in po["items"] if i["vendorPartNumber"] == part_no]
    return Decimal(str(item["cost"]))


def test_an_unchanged_rerun_reads_no_line_and_a_line_changed_alone_is_read_for_its_order(
    sandbox_connection: dict,
) -> None:
    ifs, st = sandbox_connection["ifs"]["base_url"], sandbox_connection["servicetitan"]["api_url"]
    first = materialize()
    assert first.success
    meta = read_metadata(first)
    assert meta["lines_read_because"] == "no earlier read of the period"
    orders = meta["purchase_orders"]
    assert meta["lines_read_for"] == orders and meta["lines_kept_for"] == 0

    clear_counts(ifs)
    clear_counts(st)
    again = materialize()
    assert again.success
    meta = read_metadata(again)
    assert (meta["lines_read_for"], meta["lines_kept_for"]) == (0, orders)
    assert requests_for(ifs, "PurchaseOrderLine") == 0
    assert not writes(st)

    headers, lines, keys = synced_orders()
    order_no = keys[0]
    line = lines[order_no][0]
    price = Decimal(str(line["BuyUnitPrice"])) + Decimal("1.25")
    edit_line(sandbox_connection, line, BuyUnitPrice=str(price))
    after, _, _ = synced_orders()
    assert after[order_no]["@odata.etag"] == headers[order_no]["@odata.etag"]  # header as it was

    header_changed = keys[1]
    edit_po(sandbox_connection, header_changed, WantedReceiptDate="2026-10-30")
    clear_counts(ifs)
    clear_counts(st)
    third = materialize()
    assert third.success
    meta = read_metadata(third)
    assert (meta["lines_read_for"], meta["lines_kept_for"]) == (2, orders - 2)
    assert requests_for(ifs, "PurchaseOrderLine") == 1
    assert st_cost(order_no, line["PartNo"]) == price
    assert sum(writes(st).values()) == 2  # one update each

    # The kept lines are what a full read gives: reading every line writes nothing.
    set_flow("{lines_full_read_hours: 0}")
    clear_counts(st)
    full = materialize()
    assert full.success
    meta = read_metadata(full)
    assert meta["lines_read_because"] == "lines_full_read_hours is 0"
    assert meta["lines_read_for"] == orders
    assert not writes(st)


def test_a_line_changed_while_the_read_runs_is_read_by_the_next_run(
    sandbox_connection: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line changed after the read took the History Log's newest TimeStamp but before it
    read lines keeps the old line in this read, and is read (and written) by the next."""
    assert materialize().success
    _, lines, keys = synced_orders()
    order_no = keys[-1]
    line = lines[order_no][-1]
    price = Decimal(str(line["BuyUnitPrice"])) + Decimal("7")
    read_lines = IfsPurchaseOrders._lines

    def edit_then_read(self, order_nos, shared):
        monkeypatch.setattr(IfsPurchaseOrders, "_lines", read_lines)
        edit_line(sandbox_connection, line, BuyUnitPrice=str(price))
        return read_lines(self, order_nos, shared)

    monkeypatch.setattr(IfsPurchaseOrders, "_lines", edit_then_read)
    during = materialize()
    assert during.success
    assert read_metadata(during)["lines_read_for"] == 0  # kept: the change came after
    assert st_cost(order_no, line["PartNo"]) != price

    after = materialize()
    assert after.success
    assert read_metadata(after)["lines_read_for"] == 1
    assert st_cost(order_no, line["PartNo"]) == price


def test_every_line_is_read_when_the_last_full_read_is_old_or_the_log_cannot_tell(
    sandbox_connection: dict,
) -> None:
    assert materialize().success
    set_flow("{lines_full_read_hours: 0.000001}")
    meta = read_metadata(materialize())
    assert meta["lines_read_because"].startswith("the last full read was ")
    assert meta["lines_kept_for"] == 0

    set_flow("{history_lu_names: [PurchaseOrder]}")
    meta = read_metadata(materialize())
    assert meta["lines_read_because"] == "PurchaseOrderLine is not among history_lu_names"
    assert meta["lines_kept_for"] == 0

    # More log rows than a full read would cost: the read reads every line instead.
    _, lines, keys = synced_orders()
    for order_no in keys[:2]:
        line = lines[order_no][0]
        edit_line(sandbox_connection, line, Description=f"{line['Description']} (edited)")
    ifs, sets = clients()[0], PurchaseOrderSettings()
    newest = history.newest_time(ifs, sets.history_set, sets.history_lu_names)
    since = newest - timedelta(seconds=1)
    logged = history.logged_since(
        ifs, sets.history_set, sets.history_lu_names, "ORDER_NO", since, 50
    )
    assert logged is not None and set(keys[:2]) <= logged
    assert (
        history.logged_since(ifs, sets.history_set, sets.history_lu_names, "ORDER_NO", since, 1)
        is None
    )
