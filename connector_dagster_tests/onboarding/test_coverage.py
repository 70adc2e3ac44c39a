"""`connector-dagster mappings coverage`: a period's records that would write and park
per flow, the parked grouped by the entry they miss; equal to what a real run parks."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from connector_dagster.cli import main
from connector_dagster.engine import flow, registry
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
            reads = support.read_all(name, session, support.period(PERIOD))
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
