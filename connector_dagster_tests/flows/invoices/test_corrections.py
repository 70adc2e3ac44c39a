"""Corrections after close: with `corrections: next_open_period`, an invoice changed in
ServiceTitan after its IFS period closed is posted as a correction set (the net change
per account and cost centre) dated in the next open period, linked to its original in
IFS, ServiceTitan and the ledger, and both periods reconcile; exactly once, a crash
right after the correction's create included. Without the setting it is
`period_closed` as before. Real HTTP against the sandbox, a real PostgreSQL."""

from __future__ import annotations

import json
import os
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector_dagster.kits.postings.corrections import correction_reference, net_change
from connector_dagster.kits.postings.reconcile import posting_key
from connector_dagster.lib.store import RecordRef, Store
from connector_dagster_tests.flows import support
from connector_dagster_tests.flows.invoices.test_flow import (
    FLOW,
    PERIOD,
    expected,
    postable,
    st_invoices,
    st_post,
)
from connector_dagster_tests.flows.postings import (
    clear,
    failed,
    ifs_figures,
    ledger,
    mappings,
    materialize,
    only,
    postings,
    reconcile_json,
    totals_ifs,
    writes,
)

NEXT = "2026-11-01"
CHANGED_ITEMS = [{"skuId": 61002, "quantity": 3}, {"skuId": 55501, "quantity": 2}]

CRASH_SCRIPT = """
import json, os, sys
from connector_dagster.defs.invoices.target import IfsInvoicePostings
from connector_dagster_tests.flows.support import sync_first

class Crashing(IfsInvoicePostings):
    def update(self, record, target_id):
        correction = super().update(record, target_id)
        print(json.dumps({"key": record.key, "target_id": correction.target_id}), flush=True)
        os._exit(9)  # killed after the correction reached IFS, before the ledger's commit

sync_first("invoices", sys.argv[1], Crashing, lambda record: record.key == sys.argv[2])
"""


def corrections_on() -> None:
    """The sandbox connection runs F3 alone, with `corrections: next_open_period`."""
    only(FLOW)
    path = Path(os.environ["CONNECTOR_CONNECTIONS_FILE"])
    text = path.read_text()
    path.write_text(text.replace("invoices: {}", "invoices: {corrections: next_open_period}"))


def close(ifs: str, period: str, verb: str = "close") -> None:
    httpx.post(f"{ifs}/_sandbox/periods/ACME01/{period[:7]}/{verb}", timeout=10).raise_for_status()


def synced_then_closed_then_changed(sandbox_connection: dict) -> tuple[str, str]:
    """October and November synced, October closed in IFS, one October invoice's items
    changed in ServiceTitan (its amounts move) and another's summary (no amount moves):
    the two invoices' ids."""
    assert materialize(FLOW, PERIOD).success
    assert materialize(FLOW, NEXT).success
    moved, renamed = sorted(postable(st_invoices()))[:2]
    close(sandbox_connection["ifs"]["base_url"], PERIOD)
    st_post(sandbox_connection, "/_sandbox/invoices", {"id": int(moved), "items": CHANGED_ITEMS})
    st_post(sandbox_connection, "/_sandbox/invoices", {"id": int(renamed), "summary": "renamed"})
    return moved, renamed


def export_message(info: dict, key: str) -> str:
    """The `externalMessage` ServiceTitan keeps for an invoice marked exported."""
    url = f"{info['servicetitan']['api_url']}/_sandbox/entities/invoices?ids={key}"
    [invoice] = httpx.get(url, timeout=10).json()
    return invoice["_sandbox"]["externalMessage"]


def audit(key: str) -> list[dict[str, Any]]:
    store = Store(os.environ["CONNECTOR_DATABASE_URL"])
    try:
        return store.audit_trail(RecordRef("sandbox", FLOW, key))
    finally:
        store.close()


def net(*sets: dict[str, Any]) -> Counter:
    """Net debit per (IFS account, cost centre) of posting sets together."""
    sums: Counter = Counter()
    for posting in sets:
        sums.update(totals_ifs(posting))
    return Counter({k: v for k, v in sums.items() if v})


def the_correction(key: str) -> dict[str, Any]:
    [correction] = postings(f"ST-INV-{key}-C")[f"ST-INV-{key}-C1"]
    return correction


def test_a_change_after_close_lands_as_a_correction_in_the_next_open_period(
    sandbox_connection: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing is parked; IFS holds the original as it was posted and one correction
    dated 2026-11-01 whose rows are the change, together the invoice as it is now; the
    ledger keeps the original, its audit row names the correction and its period, so
    does ServiceTitan's export message; both periods reconcile; a re-run sends nothing."""
    corrections_on()
    ifs = sandbox_connection["ifs"]["base_url"]
    moved, renamed = synced_then_closed_then_changed(sandbox_connection)
    [original] = postings(f"ST-INV-{moved}")[f"ST-INV-{moved}"]

    assert materialize(FLOW, PERIOD).success
    assert failed(FLOW) == {}
    assert postings(f"ST-INV-{moved}")[f"ST-INV-{moved}"] == [original]
    correction = the_correction(moved)
    target_id = f"ACME01/{correction['LoadId']}"
    assert correction["VoucherDate"] == NEXT and correction["Objstate"] == "Checked"
    assert correction["Text"] == (
        f"Correction 1 of IFS ACME01/{original['LoadId']}: invoice {moved} changed after "
        "period 2026-10 closed [connector:sandbox]"
    )
    invoice = st_invoices()[moved]
    assert net(original, correction) == expected(invoice, mappings())
    assert totals_ifs(correction) and totals_ifs(original) != expected(invoice, mappings())
    assert f"ST-INV-{renamed}-C1" not in postings(f"ST-INV-{renamed}-C")
    assert invoice["exportId"] == f"IFS ACME01/{original['LoadId']}"
    assert f"posted as {target_id} in 2026-11" in export_message(sandbox_connection, moved)

    entry = ledger(FLOW, PERIOD)[moved]
    assert entry.target_id == f"ACME01/{original['LoadId']}" and entry.status == "synced"
    last = audit(moved)[-1]
    assert (last["action"], last["target_id"]) == ("correct", target_id)
    assert last["note"] == (
        f"correction 1 of ACME01/{original['LoadId']} (period 2026-10 closed) posted as "
        f"{target_id} in 2026-11"
    )
    assert audit(renamed)[-1]["note"].endswith(
        "the change moves no amount, so no correction was posted"
    )

    code, october = reconcile_json(capsys, PERIOD)
    assert code == 0 and october["reconciles"], october["flows"][0]["differences"]
    [flow] = october["flows"]
    assert flow["corrected"] == [f"{moved}: {last['note']}"]
    assert flow["counts"]["corrected_later"] == 1
    code, november = reconcile_json(capsys, NEXT)
    assert code == 0 and november["reconciles"], november["flows"][0]["differences"]
    [flow] = november["flows"]
    assert flow["counts"]["corrections"] == 1
    assert flow["corrected"] == [f"{moved} correction 1: {last['note']}"]
    targets = {tuple(t["dims"]): Decimal(t["target"]) for t in flow["totals"]}
    assert targets == ifs_figures(("ST-INV-",), NEXT)

    clear(ifs)
    clear(sandbox_connection["servicetitan"]["api_url"])
    assert materialize(FLOW, PERIOD).success
    assert writes(ifs) == Counter()
    assert writes(sandbox_connection["servicetitan"]["api_url"]) == Counter()


def test_a_second_change_is_a_second_correction_even_once_the_period_reopens(
    sandbox_connection: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    """The corrected invoice changes again after October reopened: its original is not
    touched; correction 2 posts the change since correction 1; October still reconciles
    against what was posted there, November counts both corrections."""
    corrections_on()
    ifs = sandbox_connection["ifs"]["base_url"]
    moved, _ = synced_then_closed_then_changed(sandbox_connection)
    [original] = postings(f"ST-INV-{moved}")[f"ST-INV-{moved}"]
    assert materialize(FLOW, PERIOD).success
    close(ifs, PERIOD, "reopen")
    items = [{"skuId": 61002, "quantity": 5}]
    st_post(sandbox_connection, "/_sandbox/invoices", {"id": int(moved), "items": items})

    assert materialize(FLOW, PERIOD).success
    assert failed(FLOW) == {}
    found = postings(f"ST-INV-{moved}")
    assert found[f"ST-INV-{moved}"] == [original]
    [first], [second] = found[f"ST-INV-{moved}-C1"], found[f"ST-INV-{moved}-C2"]
    assert second["VoucherDate"] == NEXT
    assert net(original, first, second) == expected(st_invoices()[moved], mappings())
    for period in (PERIOD, NEXT):
        code, report = reconcile_json(capsys, period)
        assert code == 0 and report["reconciles"], report["flows"][0]["differences"]
    assert report["flows"][0]["counts"]["corrections"] == 2


def test_a_closed_next_period_sends_the_correction_to_the_first_open_one(
    sandbox_connection: dict,
) -> None:
    corrections_on()
    ifs = sandbox_connection["ifs"]["base_url"]
    moved, _ = synced_then_closed_then_changed(sandbox_connection)
    close(ifs, NEXT)
    assert materialize(FLOW, PERIOD).success
    assert the_correction(moved)["VoucherDate"] == "2026-12-01"


def test_a_crash_after_the_corrections_create_leaves_one_correction(
    sandbox_connection: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run posts the correction and dies before its ledger commit; the next run finds
    it by its reference and records it instead of posting it again."""
    corrections_on()
    moved, _ = synced_then_closed_then_changed(sandbox_connection)
    proc = support.crash(CRASH_SCRIPT, PERIOD, moved)
    said = json.loads(proc.stdout.splitlines()[-1])
    assert said["key"] == moved
    assert f"ACME01/{the_correction(moved)['LoadId']}" == said["target_id"]
    assert audit(moved)[-1]["action"] != "correct"

    assert materialize(FLOW, PERIOD).success
    assert failed(FLOW) == {}
    assert f"ACME01/{the_correction(moved)['LoadId']}" == said["target_id"]
    assert audit(moved)[-1]["target_id"] == said["target_id"]
    code, report = reconcile_json(capsys, NEXT)
    assert code == 0 and report["reconciles"], report["flows"][0]["differences"]


def test_without_the_setting_a_change_after_close_is_still_period_closed(
    sandbox_connection: dict,
) -> None:
    only(FLOW)
    moved, renamed = synced_then_closed_then_changed(sandbox_connection)
    assert not materialize(FLOW, PERIOD).success
    parked = failed(FLOW)
    assert set(parked) == {moved, renamed}
    assert all(f.reason == "period_closed" for f in parked.values())
    assert parked[moved].message.endswith(
        "is closed for ACME01, so nothing was changed; reopen the period in IFS, then replay "
        "this record (or, to post such changes in the next open period, set corrections: "
        "next_open_period in the flow's settings, then replay)"
    )
    assert not postings(f"ST-INV-{moved}-C")


def test_the_net_change_is_per_account_and_code_parts_and_leaves_out_what_did_not_move() -> None:
    def row(account: str, debit: str | None, credit: str | None, text: str) -> dict[str, Any]:
        amounts = {"CurrencyDebetAmount": debit, "CurrencyCreditAmount": credit,
                   "DebetAmount": debit, "CreditAmount": credit}  # fmt: skip
        return {"Account": account, "CodeB": "501", **amounts, "CurrencyCode": "USD",
                "Text": text}  # fmt: skip

    before = [row("4000", None, "100.00", "Service"), row("1200", "100.00", None, "Inv 1 Al")]
    after = [row("4000", None, "150.00", "Service"), row("1200", "150.00", None, "Inv 1 Bo"),
             row("4010", None, "0.00", "Parts")]  # fmt: skip

    assert net_change(before, after) == [
        {**row("4000", None, "50.00", "Correction: Service"), "CurrencyCreditAmount":
         Decimal("50.00"), "CreditAmount": Decimal("50.00")},
        {**row("1200", "50.00", None, "Correction: Inv 1 Bo"), "CurrencyDebetAmount":
         Decimal("50.00"), "DebetAmount": Decimal("50.00")},
    ]  # fmt: skip
    assert net_change(after, before)[0]["CurrencyDebetAmount"] == Decimal("50.00")
    assert net_change(before, [{**r, "Text": "renamed"} for r in before]) == []


def test_a_corrections_reference_names_its_document_for_f3_and_f4() -> None:
    from connector_dagster.defs.bills.reconcile import key_of as bill_key
    from connector_dagster.defs.invoices.reconcile import invoice_key

    assert correction_reference("ST-INV-77000123", 2) == "ST-INV-77000123-C2"
    assert posting_key("ST-INV-77000123-C2", invoice_key) == "77000123 correction 2"
    assert posting_key("ST-INV-77000123", invoice_key) == "77000123"
    assert posting_key("ST-APB-5000123-C1", bill_key) == "ap-5000123 correction 1"
    assert posting_key("ST-INV-77000123-C0", invoice_key) is None
    assert posting_key("PO-2026-00001-C1", invoice_key) is None
