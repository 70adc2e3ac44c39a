"""The failure that can never be fixed, as finance meets it: a ServiceTitan PO changes
after its IFS purchase order was Closed, so F5 parks it as `target_locked` and the period
is red. Finance ignores it with a note: the next run of the period (through Dagster) is
green and sends nothing to IFS, and the period reconciles, the PO listed as set aside.
A further change in ServiceTitan is a new failure, not hidden by the old decision."""

from __future__ import annotations

from collections import Counter

import pytest

from connector_dagster.cli import main
from connector_dagster.defs.st_purchase_orders.spec import SPEC
from connector_dagster.engine.reconcile import reconcile_flow
from connector_dagster.engine.records import Period
from connector_dagster.engine.session import Session
from connector_dagster_tests.flows.st_purchase_orders.test_bad_input import (
    ifs_edit,
    ifs_po_of,
    sent_po,
    st_change,
)
from connector_dagster_tests.flows.st_purchase_orders.test_flow import (
    PERIOD,
    clear_counts,
    failed,
    materialize,
    writes,
)

NOTE = "IFS PO closed; the extra quantity is booked as a separate adjustment"


def test_a_change_to_a_closed_po_ignored_with_a_note_leaves_the_period_green_and_reconciled(
    sandbox_connection: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    assert materialize().success
    po = sent_po()
    header, lines = ifs_po_of(po["number"])
    ifs_edit(sandbox_connection, "PurchaseOrderSet", {"OrderNo": header["OrderNo"]},
             Objstate="Closed")  # fmt: skip
    changed = st_change(po)
    assert not materialize().success
    [(key, record)] = failed().items()
    assert (key, record.reason) == (str(po["id"]), "target_locked")

    assert main(["failed", "ignore", "--connection", "sandbox", "--flow", "F5", key,
                 "--note", NOTE, "--by", "Ana Ruiz"]) == 0  # fmt: skip
    assert "open failed records: none left" in capsys.readouterr().out
    ifs_base = sandbox_connection["ifs"]["base_url"]
    clear_counts(ifs_base)
    assert materialize().success
    assert writes(ifs_base) == Counter()
    assert failed() == {}
    assert ifs_po_of(po["number"])[1] == lines
    with Session.open("sandbox") as session:
        result = reconcile_flow(SPEC, session, Period.parse(PERIOD))
    assert result.reconciles, result.differences
    assert result.set_aside == [f"{key} (ignored by Ana Ruiz: {NOTE})"]

    st_change(changed)
    assert not materialize().success
    assert failed()[key].reason == "target_locked"
