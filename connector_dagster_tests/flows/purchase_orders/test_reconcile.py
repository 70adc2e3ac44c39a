"""F1's reconciliation over the sandbox: a synced period reconciles, and a second
ServiceTitan PO carrying the marker of a PO already synced (a duplicate) is a
difference naming both ServiceTitan ids, in the report, the CLI and the asset check."""

from __future__ import annotations

import json
from decimal import Decimal

import dagster as dg
import pytest

from connector_dagster.cli import main
from connector_dagster.definitions import build_defs
from connector_dagster.defs.resources import build_resources
from connector_dagster.engine.reconcile import FlowReconciliation, reconcile_flow
from connector_dagster.engine.records import Period
from connector_dagster.engine.registry import flow as flow_spec
from connector_dagster.engine.session import Session
from connector_dagster_tests.flows import support

FLOW = "purchase_orders"
PERIOD = "2026-10-01"


def reconciled() -> FlowReconciliation:
    with Session.open("sandbox") as session:
        return reconcile_flow(flow_spec(FLOW), session, Period.parse(PERIOD))


def plant_duplicate(order_no: str) -> tuple[str, str]:
    """A second ServiceTitan PO for IFS PO `order_no`, made over ServiceTitan's API
    from the payload the connector wrote, with the same memo (marker included), as a
    second writer would: (the synced PO's id, the duplicate's id)."""
    with Session.open("sandbox") as session:
        entry = session.store.ledger_for_partition("sandbox", FLOW, PERIOD)[order_no]
        original = session.servicetitan.get("inventory", f"purchase-orders/{entry.target_id}")
        sent = entry.last_payload  # as the ledger keeps it: amounts as text
        body = {
            **sent,
            "memo": original["summary"],
            "tax": Decimal(sent["tax"]),
            "shipping": Decimal(sent["shipping"]),
            "items": [
                {**i, "quantity": Decimal(i["quantity"]), "cost": Decimal(i["cost"])}
                for i in sent["items"]
            ],
        }
        copy = session.servicetitan.create("inventory", "purchase-orders", body)
    return str(entry.target_id), str(copy["id"])


def f1_check(period: str) -> dg.AssetCheckEvaluation:
    """F1's check of `period_reconciliation` for the period, run through Dagster."""
    key = dg.AssetKey(["sandbox", "period_reconciliation"])
    job = dg.define_asset_job("reconcile", selection=dg.AssetSelection.assets(key)).resolve(
        asset_graph=build_defs().get_repository_def().asset_graph
    )
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            partition_key=period, resources=build_resources(), instance=instance,
            raise_on_error=False,
        )  # fmt: skip
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    return checks[f"{FLOW}_reconciles"]


def test_a_duplicated_po_is_a_difference_naming_each_servicetitan_id(
    sandbox_connection: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    assert support.write_in_process(FLOW, PERIOD)["failed"] == 0
    clean = reconciled()
    assert clean.reconciles, clean.differences
    synced = clean.counts["target_records"]
    assert clean.counts["source_records"] == synced > 10

    order_no = sorted(clean_keys(FLOW))[0]
    original, duplicate = plant_duplicate(order_no)

    result = reconciled()
    assert not result.reconciles
    assert result.counts["source_records"] == result.counts["ledger_synced"] == synced
    assert result.counts["target_records"] == synced + 1
    named = f"{order_no} (target {original}, {duplicate})"
    assert result.duplicated == [named]
    assert f"in the target more than once: {named}" in result.differences
    grown = [t for t in result.totals.values() if t["target"] != t["source"]]
    assert len(grown) == 1 and grown[0]["source"] == grown[0]["ledger"]
    assert grown[0]["target"] == 2 * grown[0]["source"] > Decimal(0)

    capsys.readouterr()
    args = ["reconcile", "--connection", "sandbox", "--period", PERIOD[:7], "--format", "json"]
    assert main(args) == 1
    [f1] = [f for f in json.loads(capsys.readouterr().out)["flows"] if f["flow"] == FLOW]
    assert not f1["reconciles"]
    assert f"in the target more than once: {named}" in f1["differences"]

    check = f1_check(PERIOD)
    assert not check.passed
    assert f"in the target more than once: {named}" in check.metadata["differences"].value


def clean_keys(flow: str) -> list[str]:
    """Source keys of the period the ledger holds as synced."""
    with Session.open("sandbox") as session:
        ledger = session.store.ledger_for_partition("sandbox", flow, PERIOD)
    return [k for k, e in ledger.items() if e.status == "synced"]
