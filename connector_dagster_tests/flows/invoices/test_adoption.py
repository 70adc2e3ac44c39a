"""F3 posts an invoice once, and never over or beside a person's voucher: an in-doubt
posting set is adopted only when it is exactly what the connector sent (its reference,
its Text with the marker, its rows), and every first create is looked up first, so a
voucher keyed by hand with the invoice's reference is a `conflict` naming it. Real HTTP
against the sandbox, a real PostgreSQL, a run killed in a child process."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from connector_dagster.defs.invoices.settings import InvoiceSettings
from connector_dagster.engine.session import Session
from connector_dagster.lib.store import FailedRecord
from connector_dagster.systems.ifs.postings import PostingWriter
from connector_dagster_tests.flows import support
from connector_dagster_tests.flows.invoices.test_flow import FLOW, PERIOD, st_invoices
from connector_dagster_tests.flows.postings import failed, postings

CRASH_SCRIPT = """
import json, os, sys
from connector_dagster.defs.invoices.target import IfsInvoicePostings
from connector_dagster_tests.flows.support import sync_first

class Crashing(IfsInvoicePostings):
    def create(self, record):
        sent = {"header": self.marked(record.payload["header"]), "rows": record.payload["rows"]}
        print(json.dumps({"key": record.key, "sent": sent}, default=str), flush=True)
        if os.environ.get("CRASH_AFTER_CREATE"):
            print(json.dumps({"target_id": super().create(record)}), flush=True)
        os._exit(9)  # killed before (or after) the create reached IFS

sync_first("invoices", sys.argv[1], Crashing)
"""


def crash(after_create: bool) -> dict[str, Any]:
    """A run of the period that intends one invoice and dies before (or right after) its
    posting set reached IFS: the invoice's key, what was sent, and the set's id if made."""
    proc = support.crash(CRASH_SCRIPT, PERIOD, CRASH_AFTER_CREATE="1" if after_create else "")
    said: dict[str, Any] = {}
    for line in proc.stdout.splitlines():
        said.update(json.loads(line))
    return said


def key_by_hand(header: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """A voucher a person keys in IFS (header, rows, checked): its id, `ACME01/<LoadId>`."""
    with Session.open("sandbox") as session:
        return PostingWriter(session.ifs, InvoiceSettings().sets()).create(header, rows)


def doubled(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with every amount doubled: still balanced, not what was sent."""
    amounts = ("DebetAmount", "CreditAmount", "CurrencyDebetAmount", "CurrencyCreditAmount")
    return [
        {k: str(Decimal(str(v)) * 2) if k in amounts and v is not None else v for k, v in r.items()}
        for r in rows
    ]


def voucher(reference: str, target_id: str) -> dict[str, Any]:
    [found] = [p for p in postings(reference)[reference] if f"ACME01/{p['LoadId']}" == target_id]
    return found


def the_failure(key: str) -> FailedRecord:
    parked = failed(FLOW)
    assert key in parked, parked
    return parked[key]


@pytest.mark.parametrize("text", ["exact", "inside"])
def test_a_voucher_keyed_by_hand_with_a_copy_of_the_marker_is_untouched_and_a_conflict(
    sandbox_connection: dict, text: str
) -> None:
    """A run intends an invoice and dies before posting it; a person then keys a voucher
    with its reference whose Text holds a copy of the marker (the very Text the connector
    writes, or with words around it) and other amounts. The re-run leaves that voucher as
    it is, posts nothing beside it, does not mark the invoice exported, and parks it as a
    conflict naming the invoice and the voucher."""
    said = crash(after_create=False)
    key, sent = said["key"], said["sent"]
    header = dict(sent["header"])
    if text == "inside":
        header["Text"] = f"Copy: {header['Text']} (keyed by J. Doe)"
    hand = key_by_hand(header, doubled(sent["rows"]))
    reference = sent["header"]["Reference"]
    before = voucher(reference, hand)
    counts = support.write_in_process(FLOW, PERIOD)
    assert counts["adopted"] == 0, counts
    assert voucher(reference, hand) == before
    assert len(postings(reference)[reference]) == 1
    parked = the_failure(key)
    assert parked.reason == "conflict"
    assert repr(key) in parked.message and hand in parked.message, parked.message
    assert st_invoices()[key]["syncStatus"] != "Exported"


def test_a_voucher_keyed_by_hand_before_the_first_run_is_not_posted_beside(
    sandbox_connection: dict,
) -> None:
    """Before the connector ever ran, a person keyed the voucher of an invoice by hand
    with its reference `ST-INV-<id>` and no marker. The first run looks every create up
    first: it posts nothing beside that voucher, leaves it as it is, and parks the
    invoice as a conflict naming it; the period's other invoices are posted."""
    invoices = st_invoices()
    key = next(k for k, i in invoices.items() if i["active"] and i["syncStatus"] == "Posted")
    reference = f"ST-INV-{key}"
    rows = [
        {"Account": "1200", "CodeB": "CC100", "CurrencyCode": "USD",
         "CurrencyDebetAmount": "100.00", "DebetAmount": "100.00"},
        {"Account": "4010", "CodeB": "CC100", "CurrencyCode": "USD",
         "CurrencyCreditAmount": "100.00", "CreditAmount": "100.00"},
    ]  # fmt: skip
    header = {
        "Company": "ACME01", "VoucherType": "GL", "VoucherDate": PERIOD,
        "Text": f"Invoice {key} keyed by hand", "Reference": reference,
    }  # fmt: skip
    hand = key_by_hand(header, rows)
    before = voucher(reference, hand)
    counts = support.write_in_process(FLOW, PERIOD)
    assert counts["created"] > 0, counts
    assert [f"ACME01/{p['LoadId']}" for p in postings(reference)[reference]] == [hand]
    assert voucher(reference, hand) == before
    parked = the_failure(key)
    assert parked.reason == "conflict"
    assert repr(key) in parked.message and hand in parked.message, parked.message
    assert set(failed(FLOW)) == {key}


def test_the_connectors_own_posting_set_is_adopted_after_a_crash_right_after_its_create(
    sandbox_connection: dict,
) -> None:
    """A run dies right after IFS took its posting set: the re-run adopts it (exact Text,
    the rows sent) and posts no second one."""
    said = crash(after_create=True)
    reference = said["sent"]["header"]["Reference"]
    counts = support.write_in_process(FLOW, PERIOD)
    assert counts["adopted"] == 1 and counts["failed"] == 0, (
        counts,
        [f.message for f in failed(FLOW).values()],
    )
    assert [f"ACME01/{p['LoadId']}" for p in postings(reference)[reference]] == [said["target_id"]]
