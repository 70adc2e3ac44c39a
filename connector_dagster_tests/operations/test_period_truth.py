"""What Dagster and the shell show of a period is true: a period that does not reconcile
is red on that period (its partition failed, its checks failed for that period, the
period named); a red write names each failed record with its reason and a fix that
exists, in a short failure; a plan is told apart and says "would"; the assets carry
money beside counts that agree with `reconcile`; the CLI says what it did."""

from __future__ import annotations

import re
from decimal import Decimal

import dagster as dg
import httpx
import pytest

from connector_dagster.cli import main
from connector_dagster.defs.resources import build_resources
from connector_dagster.engine.build import PLAN_TAG
from connector_dagster.engine.reconcile import reconcile
from connector_dagster.engine.session import Session
from connector_dagster_tests.flows.postings import only
from connector_dagster_tests.flows.purchase_orders import test_flow as f1

GREEN, RED = "2026-11-01", "2026-10-01"
READ = dg.AssetKey(["sandbox", "ifs_purchase_orders"])
WRITE = dg.AssetKey(["sandbox", "servicetitan_purchase_orders"])
RECONCILIATION = dg.AssetKey(["sandbox", "period_reconciliation"])
WRITE_STEP = "sandbox__servicetitan_purchase_orders.servicetitan_purchase_orders"


def definitions() -> dg.Definitions:
    from connector_dagster.definitions import build_defs

    return build_defs()


def run(
    keys: list[dg.AssetKey], period: str, instance: dg.DagsterInstance, **config: object
) -> dg.ExecuteInProcessResult:
    # What the UI launches for a selection: with the assets of its graph (the UI's
    # "additional required keys" dialog says so before launching).
    selection = dg.AssetSelection.assets(*keys).required_multi_asset_neighbors()
    job = dg.define_asset_job("adhoc", selection=selection).resolve(
        asset_graph=definitions().get_repository_def().asset_graph
    )
    return job.execute_in_process(
        partition_key=period,
        resources=build_resources(),
        instance=instance,
        raise_on_error=False,
        run_config={"ops": {op: {"config": c} for op, c in config.items()}},
    )


def statuses(instance: dg.DagsterInstance, key: dg.AssetKey, periods: list[str]) -> dict:
    partitions = definitions().get_repository_def().asset_graph.get(key).partitions_def
    return instance.get_status_by_partition(key, periods, partitions)


def plant_difference(order_no: str) -> None:
    """A quantity changed by hand in ServiceTitan on the PO the connector wrote."""
    [po] = f1.st_pos_by_order()[order_no]
    item = next(i for i in po["items"] if i.get("status") != "Inactive")
    keep = ("id", "skuId", "description", "vendorPartNumber", "cost")
    with Session.open("sandbox") as session:
        session.servicetitan.patch(
            "inventory",
            f"purchase-orders/{po['id']}",
            {"items": [{**{k: item[k] for k in keep},
                        "quantity": Decimal(str(item["quantity"])) + 1}]},
        )  # fmt: skip


def failure(result: dg.ExecuteInProcessResult, step: str) -> dg.DagsterEvent:
    [event] = [e for e in result.all_events if e.is_step_failure and e.step_key == step]
    return event


def test_a_period_that_does_not_reconcile_is_red_on_that_period_in_dagster_and_the_shell(
    sandbox_connection: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    only("purchase_orders")
    with dg.instance_for_test() as instance:
        # Selecting the write asset alone runs its read with it (one graph).
        for period in (GREEN, RED):
            synced = run([WRITE], period, instance)
            assert synced.success
            written = {m.asset_key for m in synced.get_asset_materialization_events()}
            assert written == {READ, WRITE}
        for period in (GREEN, RED):
            assert run([RECONCILIATION], period, instance).success
        headers, _ = f1.ifs_period_pos(RED)
        planted = sorted(k for k, h in headers.items() if h["Objstate"] == "Released")[0]
        plant_difference(planted)

        red = run([RECONCILIATION], RED, instance)
        assert not red.success
        event = failure(red, "sandbox__period_reconciliation")
        data = event.step_failure_data.user_failure_data
        assert data.description.startswith(
            "2026-10 does not reconcile: 2 difference(s) (purchase_orders 2); first: "
        )
        assert data.metadata["reconciles"].value is False
        assert data.metadata["period"].value == "2026-10"
        assert f"figures differ: {planted}" in data.metadata["report"].value
        [check] = red.get_asset_check_evaluations()
        assert (check.check_name, check.partition, check.passed) == (
            "purchase_orders_reconciles", RED, False
        )  # fmt: skip
        assert check.description.startswith("2026-10 does not reconcile")
        assert f"figures differ: {planted}" in str(check.metadata["differences"].value)

        # The red period is red, the other stays green, each with its own check result.
        assert statuses(instance, RECONCILIATION, [GREEN, RED]) == {
            GREEN: dg.AssetPartitionStatus.MATERIALIZED,
            RED: dg.AssetPartitionStatus.FAILED,
        }
        green = run([RECONCILIATION], GREEN, instance)
        [check] = green.get_asset_check_evaluations()
        assert (check.partition, check.passed) == (GREEN, True)
        assert statuses(instance, RECONCILIATION, [RED]) == {RED: dg.AssetPartitionStatus.FAILED}

    # The shell: the verdict first, F1 by its code, periods outside the connection refused.
    capsys.readouterr()
    assert (
        main(["reconcile", "--connection", "sandbox", "--period", "2026-10", "--flow", "F1"]) == 1
    )
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("2026-10 does not reconcile: 2 difference(s) (purchase_orders 2)")
    assert any(line.startswith(f"  ! figures differ: {planted} (target ") for line in out)
    assert main(["reconcile", "--connection", "sandbox", "--period", "2026-11"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "2026-11 reconciles (purchase_orders)"
    for outside in ("2025-09", "2031-01"):
        assert main(["reconcile", "--connection", "sandbox", "--period", outside]) == 2
        err = capsys.readouterr().err
        assert f"period {outside} is outside connection 'sandbox''s periods (2025-10 .. " in err


def test_a_red_write_names_each_record_its_reason_and_a_fix_that_exists(
    sandbox_connection: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    only("purchase_orders")
    info = sandbox_connection
    headers, lines = f1.ifs_period_pos(RED)
    closed = sorted(k for k, h in headers.items() if h["Objstate"] == "Closed" and lines[k])[0]
    released = sorted(k for k, h in headers.items() if h["Objstate"] == "Released")[0]
    line = lines[closed][0]
    httpx.post(
        f"{info['ifs']['base_url']}/_sandbox/edit",
        json={"set": "PurchaseOrderLineSet",
              "key": {"OrderNo": closed, "LineNo": line["LineNo"], "ReleaseNo": line["ReleaseNo"]},
              "changes": {"PartNo": None}},
        timeout=10,
    ).raise_for_status()  # fmt: skip
    f1.edit_po(info, released, VendorNo="V9999")

    with dg.instance_for_test() as instance:
        # A plan first: told apart in the Runs list, "would" only, nothing created.
        plan = run([WRITE], RED, instance, sandbox__servicetitan_purchase_orders={"plan": True})
        assert plan.success
        assert instance.get_run_by_id(plan.run_id).tags[PLAN_TAG] == "true"
        [observation] = [
            e.asset_observation_data.asset_observation
            for e in plan.all_events
            if e.event_type_value == "ASSET_OBSERVATION"
        ]
        shown = observation.metadata
        assert shown["would_create"].value > 0 and shown["would_fail"].value == 2
        assert not {"created", "updated", "adopted", "cancelled", "failed"} & set(shown)
        assert observation.description == f"Plan (dry run) of {RED[:7]}: nothing was sent."

        result = run([WRITE], RED, instance)
        assert not result.success
        data = failure(result, WRITE_STEP).step_failure_data.user_failure_data
        assert re.match(
            rf"2 of \d+ PO records of {RED} failed and were parked in failed_records "
            r"\(1 (mapping_missing|validation), 1 (mapping_missing|validation)\); the others "
            r"were written\. ",
            data.description,
        ), data.description
        assert "Traceback" not in data.description and "\n" not in data.description
        table = data.metadata["failed_records"].value
        assert "| record | reason | what failed, and the fix | then | attempts |" in table
        rows = {row.split(" | ")[0].strip("| "): row for row in table.splitlines()[4:]}
        assert set(rows) == {closed, released}
        assert "PartNo is empty" in rows[closed]
        assert "IFS no longer lets a Closed PO change" in rows[closed]
        assert "give the line a part in IFS" not in rows[closed]
        assert "enter it in ServiceTitan by hand" in rows[closed]
        assert "VendorNo 'V9999' has no vendor mapping" in rows[released]
        assert "once the mapping is added: replay" in rows[released]

    capsys.readouterr()
    assert main(["failed", "list", "--period", "2026-10"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2
    assert captured.err.startswith("2 open failed record(s) (period 2026-10) in 1 flow period")
    assert "1 mapping_missing" in captured.err and "1 validation" in captured.err
    assert main(["failed", "list", "--period", "2026-11"]) == 0
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "no open failed record (period 2026-11)\n")


def test_the_assets_carry_money_and_counts_that_agree_with_reconcile(
    sandbox_connection: dict,
) -> None:
    only("purchase_orders")
    with dg.instance_for_test() as instance:
        result = run([READ, WRITE], RED, instance)
        assert result.success
        meta = {
            m.asset_key: m.materialization.metadata
            for m in result.get_asset_materialization_events()
        }
    with Session.open("sandbox") as session:
        [rec] = reconcile(session, RED)
    total = sum((t["source"] for t in rec.totals.values()), Decimal(0))
    written = sum((t["ledger"] for t in rec.totals.values()), Decimal(0))
    assert total == written > 0
    read, write = meta[READ], meta[WRITE]
    assert read["source_records"].value == write["source_records"].value
    assert write["source_records"].value == rec.counts["source_records"]
    headers, _ = f1.ifs_period_pos(RED)
    cancelled = [k for k, h in headers.items() if h["Objstate"] == "Cancelled"]
    assert write["cancellations"].value == len(cancelled) > 0  # counted apart
    assert write["period_synced"].value == rec.counts["ledger_synced"]
    for side in (read["source PO total"], write["source PO total"], write["written PO total"]):
        assert Decimal(str(side.value)) == total
    assert "source_records: the period's records to be in the target" in (
        write["what_counts"].value
    )
