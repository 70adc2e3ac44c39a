"""`connector-dagster mappings coverage`: a period's records that would write and park
per flow, the parked grouped by the entry they miss; equal to what a real run parks."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal

import dagster as dg
import httpx
import pytest

from connector_dagster.cli import main
from connector_dagster.defs.operations import coverage as coverage_defs
from connector_dagster.defs.resources import build_resources
from connector_dagster.engine import flow, registry
from connector_dagster.engine.records import Period
from connector_dagster.engine.session import Session
from connector_dagster.lib import mapping
from connector_dagster_tests.flows import support

PERIOD = "2026-10-01"


def test_coverage_of_a_period_is_what_a_real_run_of_it_parks(
    sandbox_connection: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    with Session.open("sandbox") as session:
        session.mappings()
        for kind, code in (("vendors", "V1003"), ("business_units", "503")):
            mapping.set_entry(session.store, "sandbox", kind, code, None, registry.tables())

    assert main(["mappings", "coverage", "--connection", "sandbox", "--period", "2026-10",
                 "--format", "json"]) == 0  # fmt: skip
    covered = {f["flow"]: f for f in json.loads(capsys.readouterr().out)}
    assert set(covered) == {
        "purchase_orders", "gl_postings", "invoices", "bills", "st_purchase_orders",
    }  # fmt: skip
    f1 = covered["purchase_orders"]
    assert f1["would_park"] > 0 and f1["would_write"] > 0
    assert set(f1["groups"]) == {"vendors 'V1003'"}
    assert Decimal(f1["groups"]["vendors 'V1003'"]["amount"]) > 0
    assert {"business_units '503'"} <= set(covered["invoices"]["groups"])

    with Session.open("sandbox") as session:
        for name, expected in covered.items():
            spec = registry.flow(name)
            reads = support.read_all(name, session, Period.parse(PERIOD))
            report = flow.write(spec, session, PERIOD, reads).report
            parked = {key for group in expected["groups"].values() for key in group["records"]}
            assert set(report.failed) == parked, name
            assert (
                len(report.created)
                + len(report.updated)
                + len(report.cancelled)
                + len(report.adopted)
                == expected["would_write"]
            ), name

    assert main(["mappings", "coverage", "--connection", "sandbox", "--period", "2026-10"]) == 0
    text = capsys.readouterr().out
    assert "F1 purchase_orders: " in text
    parked = len(f1["groups"]["vendors 'V1003'"]["records"])
    assert f"  vendors 'V1003': {parked} PO(s), " in text


def _least_used_vendor(session: Session) -> tuple[str, int]:
    """The F1 vendor (IFS code, ServiceTitan id) of the fewest POs of the period."""
    spec = registry.flow("purchase_orders")
    settings = flow.settings_of(spec, session)
    items = spec.source(session, settings).items(
        support.read_all(spec.name, session, Period.parse(PERIOD))
    )
    records = flow.to_records(spec, items, session.mappings(), settings, PERIOD)
    used = Counter(r.payload["vendorId"] for r in records if r.op == "upsert" and r.payload)
    vendor_id = min(used, key=lambda v: (used[v], v))
    vendors = session.mappings().table("vendors")
    return next(code for code, v in vendors.items() if v == vendor_id), vendor_id


def test_the_coverage_asset_counts_stale_entries_as_a_real_run_then_parks_them(
    sandbox_connection: dict,
) -> None:
    st_base = sandbox_connection["servicetitan"]["api_url"]
    with Session.open("sandbox") as session:
        vendor_no, vendor_id = _least_used_vendor(session)
    httpx.post(
        f"{st_base}/_sandbox/vendors/{vendor_id}/active", json={"active": False}, timeout=10
    ).raise_for_status()
    httpx.post(
        f"{sandbox_connection['ifs']['base_url']}/_sandbox/edit",
        json={"set": "AccountSet", "key": {"Company": "ACME01", "Account": "4030"},
              "changes": {"Objstate": "Blocked"}},
        timeout=10,
    ).raise_for_status()  # fmt: skip

    assets = coverage_defs.build(registry.connection("sandbox")).assets
    with dg.DagsterInstance.ephemeral() as instance:
        run = dg.materialize(
            assets, partition_key=PERIOD, resources=build_resources(), instance=instance
        )
    [event] = run.get_asset_materialization_events()
    metadata = event.materialization.metadata
    covered = {f["flow"]: f for f in metadata["figures"].value}

    stale_vendor = f"vendors {vendor_no!r} -> {vendor_id} (stale)"
    assert set(covered["purchase_orders"]["groups"]) == {stale_vendor}
    assert Decimal(covered["purchase_orders"]["groups"][stale_vendor]["amount"]) > 0
    assert "ifs_accounts '403' -> '4030' (stale)" in covered["invoices"]["groups"]
    assert metadata["purchase_orders_would_park"].value == len(
        covered["purchase_orders"]["groups"][stale_vendor]["records"]
    )
    assert stale_vendor in metadata["report"].value
    with Session.open("sandbox") as session:
        for name, expected in covered.items():
            spec = registry.flow(name)
            reads = support.read_all(name, session, Period.parse(PERIOD))
            report = flow.write(spec, session, PERIOD, reads).report
            parked = {key for group in expected["groups"].values() for key in group["records"]}
            assert set(report.failed) == parked, name
            assert {reason for reason, _ in report.failed.values()} <= {"mapping_stale"}, name
            written = len(report.created) + len(report.updated) + len(report.cancelled)
            assert written + len(report.adopted) == expected["would_write"], name
