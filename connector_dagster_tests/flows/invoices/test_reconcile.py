"""F3's period reconciliation after a real run of a sandbox period: `connector-dagster
reconcile` agrees with the posting sets read from IFS's API, leaves inactive invoices
and invoices exported by another integration out, and names a posting set changed or
deleted in IFS by record and by account and cost centre."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from connector_dagster_tests.flows.invoices.test_flow import (
    FLOW,
    PERIOD,
    postable,
    st_invoices,
    st_post,
)
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


def totals(report: dict[str, Any]) -> dict[tuple[str, ...], dict[str, Decimal]]:
    [flow] = report["flows"]
    assert flow["flow"] == FLOW
    return {
        tuple(t["dims"]): {side: Decimal(t[side]) for side in ("source", "target", "ledger")}
        for t in flow["totals"]
    }


def test_a_posted_period_reconciles_with_the_figures_ifs_holds(
    sandbox_connection: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    """Elsewhere-exported and inactive invoices (one of them posted, then deactivated
    and its set deleted) count on no side; IFS is read in a few filtered requests."""
    only(FLOW)
    invoices = st_invoices()
    elsewhere, deactivated = sorted(postable(invoices))[:2]
    st_post(sandbox_connection, f"/_sandbox/invoices/{elsewhere}/exported", {"externalId": "QB-7"})
    assert materialize(FLOW, PERIOD).success
    st_post(sandbox_connection, "/_sandbox/invoices", {"id": int(deactivated), "active": False})
    assert materialize(FLOW, PERIOD).success
    assert f"ST-INV-{deactivated}" not in postings("ST-INV-")
    ifs = sandbox_connection["ifs"]["base_url"]
    clear(ifs)

    code, report = reconcile_json(capsys, PERIOD)

    assert code == 0 and report["reconciles"], report["flows"][0]["differences"]
    figures = totals(report)
    assert {dims: t["target"] for dims, t in figures.items()} == ifs_figures(("ST-INV-",), PERIOD)
    assert all(t["source"] == t["target"] == t["ledger"] for t in figures.values())
    debits = sum(t["target"] for dims, t in figures.items() if dims[-1] == "debit")
    credits = sum(t["target"] for dims, t in figures.items() if dims[-1] == "credit")
    assert debits == credits > 0
    posted = postable(st_invoices()) - {elsewhere, deactivated}
    counts = report["flows"][0]["counts"]
    assert counts["source_records"] == counts["target_records"] == len(posted) > 40
    assert any(not i["active"] for i in invoices.values())
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
    assert materialize(FLOW, PERIOD).success
    changed, deleted = sorted(postable(st_invoices()))[:2]
    sets = postings("ST-INV-")
    [edited] = sets[f"ST-INV-{changed}"]
    [gone] = sets[f"ST-INV-{deleted}"]
    row = next(r for r in edited["rows"] if r["DebetAmount"])
    ifs = sandbox_connection["ifs"]["base_url"]
    more = Decimal(str(row["DebetAmount"])) + 1
    plant_difference(ifs, edited, row, "DebetAmount", more, gone)

    code, report = reconcile_json(capsys, PERIOD)

    assert code == 1 and not report["reconciles"]
    differences = report["flows"][0]["differences"]
    assert f"figures differ: {changed} (target ACME01/{edited['LoadId']})" in differences
    assert f"only in the source: {deleted}" in differences
    dims = ("company ACME01", f"account {row['Account']}", f"CodeB {row['CodeB']}", "debit")
    figures = totals(report)
    assert figures[dims]["target"] == ifs_figures(("ST-INV-",), PERIOD)[dims]
    assert figures[dims]["target"] != figures[dims]["source"] == figures[dims]["ledger"]
    assert any(d.startswith(" x ".join(dims) + ": source ") for d in differences)
