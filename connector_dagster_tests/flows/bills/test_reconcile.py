"""F4's period reconciliation after a real run of a sandbox period: the
`period_reconciliation` asset and `connector-dagster reconcile` agree with the posting
sets read from IFS's API, leave bills exported by someone else out, and name a posting
set changed or deleted in IFS by record and by account and cost centre."""

from __future__ import annotations

from decimal import Decimal

import dagster as dg
import httpx
import pytest

from connector_dagster.defs.operations.reconciliation import build
from connector_dagster.defs.resources import build_resources
from connector_dagster.engine import registry
from connector_dagster_tests.flows.bills.test_flow import FLOW, PERIOD, postable, st_bills
from connector_dagster_tests.flows.postings import (
    clear,
    ifs_figures,
    materialize,
    only,
    plant_difference,
    postings,
    reconcile_json,
    requests,
)

PREFIXES = ("ST-APB-", "ST-INB-")


def test_a_posted_period_reconciles_with_the_figures_ifs_holds(
    sandbox_connection: dict,
) -> None:
    """A bill exported by someone else and bills not posted in ServiceTitan count on no
    side; IFS is read in a few filtered requests."""
    only(FLOW)
    bills = st_bills()
    elsewhere = sorted(k for k in postable(bills) if k.startswith("ap-"))[0]
    st = sandbox_connection["servicetitan"]["api_url"]
    httpx.post(f"{st}/_sandbox/ap-bills/{elsewhere[3:]}/exported", json={}, timeout=10)
    assert materialize(FLOW, PERIOD).success
    ifs = sandbox_connection["ifs"]["base_url"]
    clear(ifs)

    [asset] = build(registry.connection("sandbox")).assets
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [asset], partition_key=PERIOD, resources=build_resources(), instance=instance
        )

    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"bills_reconciles": True}
    [mat] = result.get_asset_materialization_events()
    [report] = mat.materialization.metadata["figures"].value
    assert report["flow"] == FLOW and report["differences"] == []
    target = {tuple(t["dims"]): Decimal(t["target"]) for t in report["totals"]}
    assert target == ifs_figures(PREFIXES, PERIOD)
    assert all(t["source"] == t["target"] == t["ledger"] for t in report["totals"])
    posted = postable(bills) - {elsewhere}
    counts = report["counts"]
    assert counts["source_records"] == counts["target_records"] == len(posted)
    assert {k.split("-")[0] for k in posted} == {"ap", "inventory"}
    assert set(bills) - posted, "the period has bills that are not posted"
    reads = requests(ifs)
    assert set(reads) == {
        ("GET", "GET ExternalVoucherHandling.svc/ExternalVoucherSet"),
        ("GET", "GET ExternalVoucherHandling.svc/ExternalVoucherRowSet"),
    }
    assert sum(reads.values()) < len(posted) / 5


def test_a_posting_set_changed_or_deleted_in_ifs_is_named(
    sandbox_connection: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    only(FLOW)
    keys = postable(st_bills())
    assert materialize(FLOW, PERIOD).success
    changed = sorted(k for k in keys if k.startswith("inventory-"))[0]
    deleted = sorted(k for k in keys if k.startswith("ap-"))[0]
    sets = {**postings("ST-APB-"), **postings("ST-INB-")}
    [edited] = sets[f"ST-INB-{changed.split('-')[1]}"]
    [gone] = sets[f"ST-APB-{deleted.split('-')[1]}"]
    row = next(r for r in edited["rows"] if r["CreditAmount"])
    ifs = sandbox_connection["ifs"]["base_url"]
    less = Decimal(str(row["CreditAmount"])) - Decimal("0.01")
    plant_difference(ifs, edited, row, "CreditAmount", less, gone)

    code, report = reconcile_json(capsys, PERIOD)

    assert code == 1 and not report["reconciles"]
    [flow] = report["flows"]
    assert f"figures differ: {changed} (target ACME01/{edited['LoadId']})" in flow["differences"]
    assert f"only in the source: {deleted}" in flow["differences"]
    dims = ["company ACME01", f"account {row['Account']}", f"CodeB {row['CodeB']}", "credit"]
    [total] = [t for t in flow["totals"] if t["dims"] == dims]
    assert Decimal(total["target"]) == ifs_figures(PREFIXES, PERIOD)[tuple(dims)]
    assert Decimal(total["target"]) != Decimal(total["source"]) == Decimal(total["ledger"])
    assert any(d.startswith(" x ".join(dims) + ": source ") for d in flow["differences"])
