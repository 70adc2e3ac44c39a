"""F5's reconciliation over the sandbox: a synced period reconciles with the figures IFS
returns, and a difference made in IFS by hand (a line changed, a PO deleted, a PO
entered with a marker, a second PO carrying a synced PO's marker) or a cancellation
IFS has not followed is named."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal

import dagster as dg
import httpx
import pytest

from connector_dagster.cli import main
from connector_dagster.definitions import build_defs
from connector_dagster.defs.resources import build_resources
from connector_dagster.engine.reconcile import FlowReconciliation, reconcile_flow
from connector_dagster.engine.records import Period
from connector_dagster.engine.registry import flow as flow_spec
from connector_dagster.engine.session import Session
from connector_dagster.kits.purchase_orders.provenance import reference_marker
from connector_dagster_tests.flows import support
from connector_dagster_tests.flows.postings import only
from connector_dagster_tests.flows.st_purchase_orders.test_flow import (
    PERIOD,
    SYNCABLE,
    bounds,
    clear_counts,
    counts,
    ifs_raised,
    st_raised,
)

FLOW = "st_purchase_orders"


def reconciled() -> FlowReconciliation:
    with Session.open("sandbox") as session:
        return reconcile_flow(flow_spec(FLOW), session, Period.parse(PERIOD))


def ifs_figures() -> dict[tuple[str, ...], Decimal]:
    """POs, lines and line totals by supplier and site of the period's IFS POs carrying
    the sandbox's F5 marker, not cancelled, as IFS's API returns them."""
    start, end = bounds(PERIOD)
    headers, lines = ifs_raised()
    sums: dict[tuple[str, ...], Decimal] = defaultdict(Decimal)
    for copies in headers.values():
        for h in copies:
            if h["Objstate"] == "Cancelled" or not start.isoformat() <= h["OrderDate"] < str(end):
                continue
            where = (f"supplier {h['VendorNo']}", f"site {h['Contract']}")
            sums[(*where, "purchase orders")] += 1
            sums[(*where, "lines")] += len(lines[h["OrderNo"]])
            sums[(*where, "line total")] += sum(
                (Decimal(str(ln["BuyQtyDue"])) * Decimal(str(ln["BuyUnitPrice"]))
                 for ln in lines[h["OrderNo"]]),
                Decimal(0),
            )  # fmt: skip
    return dict(sums)


def nonzero(figures: dict[tuple[str, ...], Decimal]) -> dict[tuple[str, ...], Decimal]:
    return {dims: v for dims, v in figures.items() if v}


def side(result: FlowReconciliation, name: str) -> dict[tuple[str, ...], Decimal]:
    """One side's non-zero totals (a dimension counted on another side only shows 0)."""
    return nonzero({dims: t[name] for dims, t in result.totals.items()})


def ifs_control(info: dict, action: str, body: dict) -> None:
    url = f"{info['ifs']['base_url']}/_sandbox/{action}"
    httpx.post(url, json=body, timeout=10).raise_for_status()


def test_a_synced_period_reconciles_with_the_figures_ifs_returns(
    sandbox_connection: dict,
) -> None:
    """The period also has Pending (not synced) and Canceled (never sent) POs: neither
    counts on any side."""
    assert support.write_in_process(FLOW, PERIOD)["failed"] == 0
    st = st_raised()
    syncable = {n: po for n, po in st.items() if po["status"] in SYNCABLE}
    assert {po["status"] for po in st.values()} >= {"Pending", "Canceled"}
    # Reconciled alone (a period whose other flows are not synced does not reconcile,
    # and is not materialized: it fails with its report).
    only(FLOW)

    defs = build_defs()
    key = dg.AssetKey(["sandbox", "period_reconciliation"])
    job = dg.define_asset_job("reconcile", selection=dg.AssetSelection.assets(key)).resolve(
        asset_graph=defs.get_repository_def().asset_graph
    )
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            partition_key=PERIOD, resources=build_resources(), instance=instance,
            raise_on_error=False,
        )  # fmt: skip
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    check = checks[f"{FLOW}_reconciles"]
    assert check.passed, check.metadata["differences"].value
    [mat] = result.get_asset_materialization_events()
    [f5] = [f for f in mat.materialization.metadata["figures"].value if f["flow"] == FLOW]
    assert f5["reconciles"] and f5["differences"] == []
    assert f5["counts"] == {
        "source_records": len(syncable), "target_records": len(syncable),
        "ledger_synced": len(syncable), "open_failed": 0,
    }  # fmt: skip
    expected = ifs_figures()
    for name in ("source", "target", "ledger"):
        assert {tuple(t["dims"]): Decimal(t[name]) for t in f5["totals"]} == expected
    counted = defaultdict(Decimal)
    for dims, value in expected.items():
        counted[dims[-1]] += value
    assert counted["purchase orders"] == len(syncable)
    assert counted["lines"] == sum(len(po["items"]) for po in syncable.values())


def test_differences_made_in_ifs_are_named_by_record_and_dimension(
    sandbox_connection: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    info = sandbox_connection
    assert support.write_in_process(FLOW, PERIOD)["failed"] == 0
    st = st_raised()
    headers, lines = ifs_raised()
    before = ifs_figures()
    synced = sorted(n for n, po in st.items() if po["status"] in SYNCABLE)
    changed, deleted = synced[0], next(
        n for n in synced[1:]
        if (headers[n][0]["VendorNo"], headers[n][0]["Contract"])
        != (headers[synced[0]][0]["VendorNo"], headers[synced[0]][0]["Contract"])
    )  # fmt: skip
    pending = next(n for n, po in sorted(st.items()) if po["status"] == "Pending")

    # A buyer changes a quantity, deletes a PO, and enters one for a PO still pending.
    order_no = headers[changed][0]["OrderNo"]
    line = lines[order_no][0]
    ifs_control(info, "edit", {
        "set": "PurchaseOrderLineSet",
        "key": {k: line[k] for k in ("OrderNo", "LineNo", "ReleaseNo")},
        "changes": {"BuyQtyDue": float(Decimal(str(line["BuyQtyDue"])) + 2)},
    })  # fmt: skip
    gone = headers[deleted][0]["OrderNo"]
    ifs_control(info, "delete", {"set": "PurchaseOrderSet", "key": {"OrderNo": gone}})
    ifs_control(info, "create", {"set": "PurchaseOrderSet", "values": {
        "VendorNo": headers[changed][0]["VendorNo"], "Contract": headers[changed][0]["Contract"],
        "OrderDate": st[pending]["date"][:10], "Company": "ACME01", "CurrencyCode": "USD",
        "Objstate": "Planned", "Reference": reference_marker(pending, "sandbox"),
    }})  # fmt: skip

    clear_counts(info["ifs"]["base_url"])
    result = reconciled()
    assert counts(info["ifs"]["base_url"]) == {  # headers, then lines of many POs at once
        ("GET", "GET PurchaseOrderHandling.svc/PurchaseOrderSet"): 1,
        ("GET", "GET PurchaseOrderLineEntity.svc/PurchaseOrderLineSet"): 1,
    }
    assert not result.reconciles
    assert result.different == [f"{st[changed]['id']} (target {order_no})"]
    assert result.only_in_source == [str(st[deleted]["id"])]
    assert result.only_in_target == [str(st[pending]["id"])]  # the ledger never had it
    assert side(result, "target") == nonzero(ifs_figures())
    assert side(result, "source") == side(result, "ledger") == nonzero(before)
    changed_total = (f"supplier {headers[changed][0]['VendorNo']}",
                     f"site {headers[changed][0]['Contract']}", "line total")  # fmt: skip
    grown = result.totals[changed_total]
    assert grown["target"] - grown["source"] == 2 * Decimal(str(line["BuyUnitPrice"]))
    deleted_lines = (f"supplier {headers[deleted][0]['VendorNo']}",
                     f"site {headers[deleted][0]['Contract']}", "lines")  # fmt: skip
    shrunk = result.totals[deleted_lines]
    assert shrunk["source"] - shrunk["target"] == len(lines[gone])

    capsys.readouterr()
    assert main(["reconcile", "--connection", "sandbox", "--period", "2026-10",
                 "--format", "json"]) == 1  # fmt: skip
    [f5] = [f for f in json.loads(capsys.readouterr().out)["flows"] if f["flow"] == FLOW]
    assert f"figures differ: {st[changed]['id']} (target {order_no})" in f5["differences"]
    assert f"only in the source: {st[deleted]['id']}" in f5["differences"]
    named = "\n".join(f5["differences"])
    assert " x ".join(changed_total) in named
    pos = sum(1 for n in synced if headers[n][0]["VendorNo"] == headers[changed][0]["VendorNo"]
              and headers[n][0]["Contract"] == headers[changed][0]["Contract"])  # fmt: skip
    planted_pos = " x ".join((*changed_total[:2], "purchase orders"))
    assert f"{planted_pos}: source {pos}, target {pos + 1}" in named


def test_a_cancellation_counts_once_ifs_has_followed_it(sandbox_connection: dict) -> None:
    """A PO cancelled in ServiceTitan is a difference while its IFS PO is open (and a
    failed record says so); once a buyer cancels it in IFS, neither side counts it."""
    assert support.write_in_process(FLOW, PERIOD)["failed"] == 0
    st = st_raised()
    synced = sorted(n for n, po in st.items() if po["status"] in SYNCABLE)
    number = synced[-1]
    [header] = ifs_raised()[0][number]
    with Session.open("sandbox") as session:
        session.servicetitan.patch(
            "inventory", f"purchase-orders/{st[number]['id']}/cancellation",
            {"canceledReason": "Other"},
        )  # fmt: skip
    assert support.write_in_process(FLOW, PERIOD)["failed"] == 1

    open_in_ifs = reconciled()
    key = str(st[number]["id"])
    assert open_in_ifs.only_in_target == [key]
    assert open_in_ifs.open_failed == [f"{key} (rejected)"]
    assert open_in_ifs.counts["source_records"] == len(synced) - 1

    ifs_control(sandbox_connection, "edit", {
        "set": "PurchaseOrderSet", "key": {"OrderNo": header["OrderNo"]},
        "changes": {"Objstate": "Cancelled", "CancelReason": "Duplicate order"},
    })  # fmt: skip
    assert support.write_in_process(FLOW, PERIOD)["failed"] == 0
    both = reconciled()
    assert both.reconciles, both.differences
    assert both.counts["target_records"] == len(synced) - 1
    assert side(both, "target") == nonzero(ifs_figures())


def test_a_second_ifs_po_with_a_synced_pos_marker_is_a_duplicate_naming_both(
    sandbox_connection: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    """Someone (or a second writer) enters an IFS PO carrying the marker of a ServiceTitan
    PO already synced: the period no longer reconciles, and the difference names the
    ServiceTitan PO and both IFS order numbers."""
    assert support.write_in_process(FLOW, PERIOD)["failed"] == 0
    st = st_raised()
    synced = sorted(n for n, po in st.items() if po["status"] in SYNCABLE)
    assert reconciled().reconciles
    number = synced[0]
    [header] = ifs_raised()[0][number]

    ifs_control(sandbox_connection, "create", {"set": "PurchaseOrderSet", "values": {
        **{k: header[k] for k in ("VendorNo", "Contract", "OrderDate", "Company", "CurrencyCode")},
        "Objstate": "Planned", "Reference": reference_marker(number, "sandbox"),
    }})  # fmt: skip
    [copy] = [h["OrderNo"] for h in ifs_raised()[0][number] if h != header]

    result = reconciled()
    assert not result.reconciles
    both = ", ".join(sorted((header["OrderNo"], copy)))  # as IFS lists them, by OrderNo
    named = f"{st[number]['id']} (target {both})"
    assert f"in the target more than once: {named}" in result.differences
    assert result.duplicated == [named]
    assert result.only_in_target == result.only_in_source == result.different == []
    assert result.counts["target_records"] == result.counts["source_records"] + 1
    assert side(result, "target") == nonzero(ifs_figures())

    capsys.readouterr()
    assert main(["reconcile", "--connection", "sandbox", "--period", "2026-10",
                 "--format", "json"]) == 1  # fmt: skip
    [f5] = [f for f in json.loads(capsys.readouterr().out)["flows"] if f["flow"] == FLOW]
    assert f"in the target more than once: {named}" in f5["differences"]
