"""Finance's month-end, played on the sandbox: the open period polled, the close window
with a mapping gap and a bad IFS record, the red partition and what it shows, the
fixes, replay (by the job and by the CLI), a green reconciliation whose figures match
what the test reads from both APIs, plans, and `connector-dagster reconcile`."""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from decimal import Decimal

import dagster as dg
import httpx
import pytest

from connector_dagster.cli import main
from connector_dagster.defs.operations.replay import replay_failed_records
from connector_dagster.defs.resources import build_resources
from connector_dagster.engine import registry
from connector_dagster.engine.session import Session
from connector_dagster.lib import mapping
from connector_dagster.lib.store import Store
from connector_dagster_tests.flows.gl_postings import test_flow as f2
from connector_dagster_tests.flows.purchase_orders import test_flow as f1

OPEN, PRIOR = "2026-11-01", "2026-10-01"


def definitions() -> dg.Definitions:
    from connector_dagster.definitions import build_defs

    return build_defs()


FLOWS = {
    "f1": ["sandbox/ifs_purchase_orders", "sandbox/servicetitan_purchase_orders"],
    "f2": ["sandbox/ifs_gl_posting_proposals", "sandbox/servicetitan_journal_entries"],
    "f3": [
        "sandbox/servicetitan_invoices",
        "sandbox/servicetitan_jobs",
        "sandbox/ifs_invoice_postings",
    ],
    "f4": ["sandbox/servicetitan_bills", "sandbox/ifs_bill_postings"],
    "f5": ["sandbox/servicetitan_purchase_orders_raised", "sandbox/ifs_purchase_orders_raised"],
    "reconciliation": ["sandbox/period_reconciliation"],
}


def run(which: str, period: str, instance: dg.DagsterInstance, **config: object):
    defs = definitions()
    selection = dg.AssetSelection.assets(*(dg.AssetKey.from_user_string(k) for k in FLOWS[which]))
    job = dg.define_asset_job("adhoc", selection=selection).resolve(
        asset_graph=defs.get_repository_def().asset_graph
    )
    run_config = {"ops": {op: {"config": c} for op, c in config.items()}}
    return job.execute_in_process(
        partition_key=period,
        resources=build_resources(),
        instance=instance,
        raise_on_error=False,
        run_config=run_config,
    )


def st_writes(info: dict) -> int:
    rows = httpx.get(f"{info['servicetitan']['api_url']}/_sandbox/requests", timeout=10).json()
    return sum(r["count"] for r in rows if r["method"] in ("POST", "PATCH", "PUT", "DELETE"))


def clear(info: dict) -> None:
    for base in (info["ifs"]["base_url"], info["servicetitan"]["api_url"]):
        httpx.delete(f"{base}/_sandbox/requests", timeout=10).raise_for_status()


def failure_metadata(result: dg.ExecuteInProcessResult, step: str) -> dict:
    [event] = [
        e for e in result.all_events if e.is_step_failure and e.step_key == step
    ]  # fmt: skip
    return event.step_failure_data.user_failure_data.metadata


def st_po_totals() -> dict[tuple[str, str], Decimal]:
    """PO totals per vendor and business unit as ServiceTitan's API returns them."""
    sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for key, [po] in f1.st_pos_by_order().items():
        if po["status"] != "Canceled" and str(po["date"]).startswith(PRIOR[:7]):
            sums[(str(po["vendorId"]), str(po["businessUnitId"]))] += Decimal(str(po["total"]))
        assert key
    return dict(sums)


def test_a_month_end_from_open_period_to_a_reconciled_close(
    sandbox_connection: dict, db_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    info = sandbox_connection
    store = Store(db_env)
    with dg.instance_for_test() as instance:
        # The open period, polled during the day.
        assert run("f1", OPEN, instance).success

        # The close window opens with a mapping gap and a bad record in IFS.
        headers, lines = f1.ifs_period_pos(PRIOR)
        syncable = {k for k, h in headers.items() if h["Objstate"] in f1.SYNCABLE}
        vendor = Counter(headers[k]["VendorNo"] for k in syncable).most_common()[-1][0]
        gap = {k for k in syncable if headers[k]["VendorNo"] == vendor}
        tables = registry.tables()
        mapping.ensure_loaded(
            store, "sandbox", f1.PROJECT_ROOT / "connector_dagster/mappings/sandbox.yaml", tables
        )
        vendor_id = mapping.load(store, "sandbox", tables).table("vendors")[vendor]
        mapping.set_entry(store, "sandbox", "vendors", vendor, None, tables)
        bad = next(k for k in sorted(syncable - gap) if lines[k])
        line = lines[bad][0]
        httpx.post(
            f"{info['ifs']['base_url']}/_sandbox/edit",
            json={"set": "PurchaseOrderLineSet",
                  "key": {"OrderNo": bad, "LineNo": line["LineNo"], "ReleaseNo": line["ReleaseNo"]},
                  "changes": {"BuyQtyDue": 0}},
            timeout=10,
        ).raise_for_status()  # fmt: skip

        result = run("f1", PRIOR, instance)
        assert not result.success
        shown = failure_metadata(
            result, "sandbox__servicetitan_purchase_orders.servicetitan_purchase_orders"
        )
        assert shown["period_failed"].value == len(gap) + 1
        assert shown["period_synced"].value == len(syncable) - len(gap) - 1
        table = shown["failed_records"].value
        for key in [*gap, bad]:
            assert key in table
        assert "mapping_missing" in table and "validation" in table
        f2_result = run("f2", PRIOR, instance)  # the same vendor gap hits its suppliers
        f2_failed = store.failed(connection="sandbox", flow="gl_postings")
        assert f2_result.success == (f2_failed == [])
        assert all(f.reason == "mapping_missing" and vendor in f.message for f in f2_failed)

        # The fixes: the record corrected in IFS, the mapping restored.
        httpx.post(
            f"{info['ifs']['base_url']}/_sandbox/edit",
            json={"set": "PurchaseOrderLineSet",
                  "key": {"OrderNo": bad, "LineNo": line["LineNo"], "ReleaseNo": line["ReleaseNo"]},
                  "changes": {"BuyQtyDue": float(line["BuyQtyDue"])}},
            timeout=10,
        ).raise_for_status()  # fmt: skip
        mapping.set_entry(store, "sandbox", "vendors", vendor, vendor_id, tables)

        # Replay: the mapping gap by the job, the corrected record by the CLI.
        replayed = replay_failed_records.execute_in_process(
            run_config={"ops": {"replay_failed_records_op": {"config": {
                "connection": "sandbox", "flow": "purchase_orders", "period": "2026-10",
                "reason": "mapping_missing"}}}},
            instance=instance,
        )  # fmt: skip
        assert replayed.success
        # The job replayed F1's; F2's, parked when the gap hit a supplier, wait for the CLI.
        assert (
            store.failed(connection="sandbox", flow="purchase_orders", reason="mapping_missing")
            == []
        )
        left = store.failed(connection="sandbox")
        assert {(f.flow, f.source_key) for f in left} == {("purchase_orders", bad)} | {
            ("gl_postings", f.source_key) for f in f2_failed
        }
        capsys.readouterr()
        assert main(["failed", "replay", "--connection", "sandbox", "--period", "2026-10"]) == 0
        lines_out = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        assert {r["flow"]: r["resolved"] for r in lines_out} == {
            "purchase_orders": 1,
            **({"gl_postings": len(f2_failed)} if f2_failed else {}),
        }
        assert store.failed(connection="sandbox") == []

        # The period is green, and its latest materialization shows the period's totals.
        write_key = dg.AssetKey(["sandbox", "servicetitan_purchase_orders"])
        [latest] = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=write_key, asset_partitions=[PRIOR]), limit=1
        ).records
        meta = latest.asset_materialization.metadata
        assert meta["period_synced"].value == len(syncable) and meta["period_failed"].value == 0
        partitions = definitions().get_repository_def().asset_graph.get(write_key).partitions_def
        status = instance.get_status_by_partition(write_key, [PRIOR], partitions)
        assert status == {PRIOR: dg.AssetPartitionStatus.MATERIALIZED}

        # ServiceTitan's invoices and bills of the period reach IFS too.
        assert run("f3", PRIOR, instance).success
        assert run("f4", PRIOR, instance).success
        # The purchase orders raised in ServiceTitan in the period go to IFS.
        assert run("f5", PRIOR, instance).success

        # Reconciliation: green, every figure as read from both APIs.
        reconciled = run("reconciliation", PRIOR, instance)
        assert reconciled.success
        checks = {c.check_name: c.passed for c in reconciled.get_asset_check_evaluations()}
        assert checks == {"purchase_orders_reconciles": True, "gl_postings_reconciles": True,
                          "invoices_reconciles": True, "bills_reconciles": True,
                          "st_purchase_orders_reconciles": True}  # fmt: skip
        [mat] = reconciled.get_asset_materialization_events()
        figures = {f["flow"]: f for f in mat.materialization.metadata["figures"].value}
        po = figures["purchase_orders"]
        by_dims = {(t["dims"][0].split()[-1], t["dims"][1].split()[-1]): Decimal(t["target"])
                   for t in po["totals"]}  # fmt: skip
        assert by_dims == st_po_totals()
        ifs_total = sum(
            (Decimal(str(ln["BuyQtyDue"])) * Decimal(str(ln["BuyUnitPrice"]))
             for k in syncable for ln in lines[k] if ln.get("Objstate") != "Cancelled"),
            Decimal(0),
        )  # fmt: skip
        source_total = sum(Decimal(t["source"]) for t in po["totals"])
        tax = sum(Decimal(str(p["tax"])) for [p] in f1.st_pos_by_order().values()
                  if str(p["date"]).startswith(PRIOR[:7]))  # fmt: skip
        assert source_total == ifs_total + tax
        assert po["counts"]["source_records"] == po["counts"]["target_records"] == len(syncable)
        gl = figures["gl_postings"]
        heads = f2.ifs_proposals(PRIOR)
        debits = sum(Decimal(str(r.get("DebetAmount") or 0))
                     for k in f2.syncable(heads) for r in heads[k]["rows"])  # fmt: skip
        st_debits = sum(
            Decimal(str(d["debit"])) for [e] in f2.st_entries().values() for d in e["details"]
        )
        reported = sum(Decimal(t["target"]) for t in gl["totals"] if t["dims"][-1] == "debit")
        assert debits == st_debits == reported

        # `connector-dagster reconcile`: 0 on the reconciled period; a planted
        # difference (a PO quantity changed by hand in ServiceTitan) is named, exit 1.
        assert main(["reconcile", "--connection", "sandbox", "--period", "2026-10"]) == 0
        planted = sorted(syncable)[0]
        [po_row] = f1.st_pos_by_order()[planted]
        item = next(i for i in po_row["items"] if i.get("status") != "Inactive")
        with Session.open("sandbox") as session:
            session.servicetitan.patch(
                "inventory", f"purchase-orders/{po_row['id']}",
                {"items": [{**{k: item[k] for k in ("id", "skuId", "description",
                                                    "vendorPartNumber", "cost")},
                            "quantity": Decimal(str(item["quantity"])) + 1}]},
            )  # fmt: skip
        capsys.readouterr()
        assert main(["reconcile", "--connection", "sandbox", "--period", "2026-10"]) == 1
        assert f"figures differ: {planted}" in capsys.readouterr().out
    store.close()


def test_a_plan_sends_no_write_and_lists_exactly_the_writes_the_real_run_makes(
    sandbox_connection: dict, db_env: str
) -> None:
    info = sandbox_connection
    with dg.instance_for_test() as instance:
        assert run("f1", PRIOR, instance).success
        headers, _ = f1.ifs_period_pos(PRIOR)
        released = sorted(k for k, h in headers.items() if h["Objstate"] == "Released")
        f1.edit_po(info, released[0], WantedReceiptDate="2026-12-24")
        f1.edit_po(info, released[1], Objstate="Cancelled")
        f1.edit_po(info, released[2], VendorNo="V9999")
        clear(info)
        plan = run(
            "f1", PRIOR, instance,
            sandbox__servicetitan_purchase_orders={"plan": True},
        )  # fmt: skip
        assert plan.success
        assert st_writes(info) == 0
        [observation] = [
            e.asset_observation_data.asset_observation
            for e in plan.all_events
            if e.event_type_value == "ASSET_OBSERVATION"
        ]
        writes = observation.metadata["writes"].value
        planned = sorted((w["key"], w["action"]) for w in writes)
        assert planned == [(released[0], "update"), (released[1], "cancel")]
        assert observation.metadata["would_fail"].value == 1
        store = Store(db_env)
        assert store.failed(connection="sandbox") == []  # a plan parks nothing
        store.close()

        real = run("f1", PRIOR, instance)
        assert not real.success  # V9999 has no mapping
        store = Store(db_env)
        actions = sorted(
            (a["action"], key)
            for key in (released[0], released[1])
            for a in store.audit_trail(store_ref(key))
            if a["run_id"] == real.run_id and a["action"] in ("create", "update", "cancel")
        )
        store.close()
        assert actions == sorted((action, key) for key, action in planned)


def store_ref(key: str):
    from connector_dagster.lib.store import RecordRef

    return RecordRef("sandbox", "purchase_orders", key)


def test_a_failed_run_is_recorded_and_posted_to_the_alert_webhook(
    sandbox_connection: dict, db_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from connector_dagster.defs.operations.alerts import run_failure_alerts
    from connector_dagster.sandbox.server import running

    posted: list[dict] = []

    async def hook(request: Request) -> Response:
        posted.append(await request.json())
        return Response(status_code=200)

    headers, _ = f1.ifs_period_pos()
    released = sorted(k for k, h in headers.items() if h["Objstate"] == "Released")
    f1.edit_po(sandbox_connection, released[0], VendorNo="V9999")
    with running(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as url:
        monkeypatch.setenv("CONNECTOR_ALERT_WEBHOOK_URL", f"{url}/hook")
        with dg.instance_for_test() as instance:
            failed = run("f1", f1.PERIOD, instance)
            assert not failed.success
            dagster_run = instance.get_run_by_id(failed.run_id)
            [record] = instance.all_logs(failed.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
            event = record.dagster_event
            context = dg.build_run_status_sensor_context(
                sensor_name="connector_run_failure_sensor",
                dagster_event=event,
                dagster_instance=instance,
                dagster_run=dagster_run,
            ).for_run_failure()
            run_failure_alerts(context)
    [message] = posted
    assert "sandbox purchase_orders 2026-10" in message["text"]
    # what the write step said, not Dagster's "Execution of step ... failed."
    assert "PO records of 2026-10-01 failed" in message["text"], message["text"]
    st, ifs = sandbox_connection["servicetitan"], sandbox_connection["ifs"]
    secrets = [st["client_secret"], st["app_key"], ifs["client_secret"]]
    secrets.append(os.environ["CONNECTOR_MASTER_KEY"])
    assert not any(s in message["text"] for s in secrets)
    with Store(db_env).cursor() as cur:
        cur.execute("SELECT connection, flow, partition_key, posted FROM connector.run_alerts")
        assert cur.fetchall() == [("sandbox", "purchase_orders", f1.PERIOD, True)]
