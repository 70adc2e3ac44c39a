"""F1 and the changes people make: a cancelled line, a foreign currency, another
company's PO, a cancellation whose answer was lost. Real HTTP, real PostgreSQL."""

from __future__ import annotations

import os

import httpx

from connector_dagster.lib.store import Store
from connector_dagster_tests.flows.purchase_orders.test_flow import (
    clear_counts,
    edit_po,
    ifs_period_pos,
    materialize,
    st_pos_by_order,
    writes,
)


def failed_records() -> dict:
    store = Store(os.environ["CONNECTOR_DATABASE_URL"])
    try:
        return {f.source_key: f for f in store.failed(connection="sandbox")}
    finally:
        store.close()


def test_a_line_cancelled_in_ifs_becomes_inactive_and_a_foreign_currency_po_is_parked(
    sandbox_connection: dict,
) -> None:
    assert materialize().success
    headers, lines = ifs_period_pos()
    released = [k for k, h in headers.items() if h["Objstate"] == "Released" and len(lines[k]) > 1]
    with_lines, in_euros = released[0], released[1]
    line = lines[with_lines][-1]
    key = {"OrderNo": with_lines, "LineNo": line["LineNo"], "ReleaseNo": line["ReleaseNo"]}
    httpx.post(
        f"{sandbox_connection['ifs']['base_url']}/_sandbox/edit",
        json={
            "set": "PurchaseOrderLineSet",
            "key": key,
            "changes": {"Objstate": "Cancelled"},
        },
        timeout=10,
    ).raise_for_status()
    edit_po(sandbox_connection, in_euros, CurrencyCode="EUR")

    result = materialize()
    assert not result.success
    [po] = st_pos_by_order()[with_lines]
    active = [i for i in po["items"] if i.get("status") != "Inactive" and i.get("active", True)]
    assert len(active) == len(lines[with_lines]) - 1
    assert line["PartNo"] not in {i["vendorPartNumber"] for i in active}
    failed = failed_records()
    assert set(failed) == {in_euros}
    assert failed[in_euros].reason == "validation"
    assert f"PO {in_euros!r}: CurrencyCode 'EUR'" in failed[in_euros].message


def test_only_the_connections_company_is_read(sandbox_connection: dict) -> None:
    headers, _ = ifs_period_pos()
    other = next(k for k, h in headers.items() if h["Objstate"] == "Released")
    edit_po(sandbox_connection, other, Company="OTHER01")
    assert materialize().success
    synced = st_pos_by_order()
    assert other not in synced
    assert {k for k, h in headers.items() if h["Objstate"] == "Released"} - {other} <= set(synced)


def test_a_cancellation_whose_answer_was_lost_is_done_not_failed(
    sandbox_connection: dict,
) -> None:
    """ServiceTitan cancels the PO but the connection drops before the answer: the
    PO is cancelled, so the record is synced, not parked as rejected."""
    assert materialize().success
    headers, _ = ifs_period_pos()
    key = next(k for k, h in headers.items() if h["Objstate"] == "Released")
    edit_po(sandbox_connection, key, Objstate="Cancelled")
    st_base = sandbox_connection["servicetitan"]["api_url"]
    profile = {"rate_reset": 1.0, "methods": ["PATCH"]}
    httpx.put(f"{st_base}/_sandbox/faults", json=profile, timeout=10).raise_for_status()
    clear_counts(st_base)
    try:
        result = materialize()
    finally:
        httpx.put(f"{st_base}/_sandbox/faults", json={}, timeout=10).raise_for_status()
    assert result.success, failed_records()
    assert sum(writes(st_base, "cancellation").values()) >= 1
    [po] = st_pos_by_order()[key]
    assert po["status"] == "Canceled"
    assert failed_records() == {}


def test_a_change_to_an_older_period_is_run_by_the_change_sensor(
    sandbox_connection: dict,
) -> None:
    """A PO of October cancelled in IFS later: the change sensor, reading the History
    Log from its cursor, requests a run of October (one request per tick when
    nothing changed), and that run cancels the PO in ServiceTitan."""
    import dagster as dg

    from connector_dagster_tests.flows.purchase_orders.test_flow import defs

    assert materialize().success
    [sensor] = defs().sensors
    assert sensor.name == "sandbox_purchase_orders_change_sensor"
    first = sensor(dg.build_sensor_context(cursor=None))
    assert first.run_requests == [] and first.cursor

    ifs_base = sandbox_connection["ifs"]["base_url"]
    clear_counts(ifs_base)
    quiet = sensor(dg.build_sensor_context(cursor=first.cursor))
    assert quiet.run_requests == [] and quiet.cursor == first.cursor
    calls = httpx.get(f"{ifs_base}/_sandbox/requests", timeout=10).json()
    assert sum(r["count"] for r in calls if "/_sandbox" not in r["route"]) == 1

    headers, _ = ifs_period_pos()
    key = next(k for k, h in headers.items() if h["Objstate"] == "Released")
    edit_po(sandbox_connection, key, Objstate="Cancelled")
    changed = sensor(dg.build_sensor_context(cursor=first.cursor))
    [request] = changed.run_requests
    assert request.partition_key == "2026-10-01"
    again = sensor(dg.build_sensor_context(cursor=first.cursor))
    assert [r.run_key for r in again.run_requests] == [request.run_key]
    assert sensor(dg.build_sensor_context(cursor=changed.cursor)).run_requests == []

    assert materialize(period=request.partition_key).success
    [po] = st_pos_by_order()[key]
    assert po["status"] == "Canceled"
