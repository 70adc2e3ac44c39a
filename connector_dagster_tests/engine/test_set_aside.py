"""Failed records a person resolves or ignores with a note (`failed resolve|ignore`): the
decision is in the audit trail, later runs leave the record alone while it is unchanged,
its period counts as clean (no open failure, it reconciles, Dagster's partition gets a
clean materialization), and a change to the record makes it a record like any other."""

from __future__ import annotations

import dagster as dg
import httpx
import pytest

from connector_dagster.cli import main
from connector_dagster.engine.reconcile import reconcile_flow
from connector_dagster.engine.records import Period
from connector_dagster.engine.registry import flow as flow_spec
from connector_dagster.engine.session import Session
from connector_dagster.lib import db
from connector_dagster.lib.store import Audit, RecordRef, Store
from connector_dagster_tests.flows import support

FLOW = "purchase_orders"
PERIOD = "2026-05-01"
NEGATIVE_PRICE, NO_PART = "PO-2026-00157", "PO-2026-00159"
"""The sandbox's two POs of 2026-05 that ServiceTitan cannot take (see the README)."""


def store() -> Store:
    return Store(db.database_url())


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def patch_ifs_line(sandbox: dict, order_no: str, line_no: str, change: dict) -> None:
    """Change a PO line in IFS as an IFS user's tool would (token, ETag, If-Match)."""
    ifs = sandbox["ifs"]
    token = httpx.post(ifs["token_url"], data={
        "grant_type": "client_credentials", "client_id": ifs["client_id"],
        "client_secret": ifs["client_secret"]}, timeout=30).json()["access_token"]  # fmt: skip
    auth = {"Authorization": f"Bearer {token}"}
    url = (
        f"{ifs['base_url']}/int/ifsapplications/projection/v1/PurchaseOrderHandling.svc/"
        f"PurchaseOrderLineSet(OrderNo='{order_no}',LineNo='{line_no}',ReleaseNo='1')"
    )
    etag = httpx.get(url, headers=auth, timeout=30).json()["@odata.etag"]
    answer = httpx.patch(url, json=change, headers={**auth, "If-Match": etag}, timeout=30)
    assert answer.status_code == 204, answer.text


def test_a_failure_set_aside_with_a_note_leaves_its_period_clean_until_the_record_changes(
    sandbox_connection: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    assert support.write_in_process(FLOW, PERIOD)["failed"] == 2
    s = store()
    assert {f.source_key for f in s.failed(connection="sandbox")} == {NEGATIVE_PRICE, NO_PART}

    note = "a credit, not a PO: booked as a credit note"
    code, out, _ = cli(capsys, "failed", "ignore", "--connection", "sandbox", NEGATIVE_PRICE,
                       "--note", note, "--by", "Ana Ruiz")  # fmt: skip
    assert code == 0
    assert out.splitlines() == [
        f"ignored {NEGATIVE_PRICE} ({FLOW}, 2026-05, validation) by Ana Ruiz",
        f"{FLOW} 2026-05: open failed records: 1 still open",
    ]
    code, out, _ = cli(capsys, "failed", "resolve", "--connection", "sandbox", "--flow", "F1",
                       NO_PART, "--note", "entered by hand in ServiceTitan", "--by",
                       "Bo Lee")  # fmt: skip
    assert code == 0
    assert out.splitlines()[-1] == (
        f"{FLOW} 2026-05: open failed records: none left: the period counts as clean"
    )
    assert s.failed(connection="sandbox") == []
    closed = {f.source_key: f for f in s.failed(connection="sandbox", include_resolved=True)}
    assert (closed[NEGATIVE_PRICE].resolution, closed[NEGATIVE_PRICE].resolved_by) == (
        "ignored", "Ana Ruiz")  # fmt: skip
    assert closed[NO_PART].resolution_note == "entered by hand in ServiceTitan"
    [decision] = [a for a in s.audit_trail(RecordRef("sandbox", FLOW, NEGATIVE_PRICE))
                  if a["action"] == "ignore"]  # fmt: skip
    assert decision["actor"] == "Ana Ruiz"
    assert decision["note"] == "a credit, not a PO: booked as a credit note"
    assert decision["error"].startswith("validation: ")

    # Dagster's partition of the period got a materialization saying it is clean.
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(
            dg.AssetKey(["sandbox", "servicetitan_purchase_orders"])
        )
    assert event is not None and event.asset_materialization is not None
    assert event.asset_materialization.partition == PERIOD
    assert event.asset_materialization.metadata["period_failed"].value == 0

    # A later run leaves both alone: nothing fails, nothing is written.
    again = support.write_in_process(FLOW, PERIOD)
    assert again["failed"] == 0 and again["created"] == again["updated"] == 0
    assert s.failed(connection="sandbox") == []

    with Session.open("sandbox") as session:
        result = reconcile_flow(flow_spec(FLOW), session, Period.parse(PERIOD))
    assert result.reconciles, result.differences
    assert result.counts["set_aside"] == 2
    assert result.set_aside == [
        f"{NEGATIVE_PRICE} (ignored by Ana Ruiz: a credit, not a PO: booked as a credit note)",
        f"{NO_PART} (resolved by Bo Lee: entered by hand in ServiceTitan)",
    ]

    # Corrected in IFS, the PO is no longer the one set aside: it is written.
    patch_ifs_line(sandbox_connection, NEGATIVE_PRICE, "5", {"BuyUnitPrice": 22.9})
    fixed = support.write_in_process(FLOW, PERIOD)
    assert (fixed["created"], fixed["failed"]) == (1, 0)
    entry = s.ledger("sandbox", FLOW, [NEGATIVE_PRICE])[NEGATIVE_PRICE]
    assert entry.status == "synced" and entry.set_aside_hash is None
    s.close()


def test_resolve_refuses_a_missing_note_an_unknown_record_and_a_key_of_two_flows(
    sandbox_connection: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    assert support.write_in_process(FLOW, PERIOD)["failed"] == 2
    code, _, err = cli(capsys, "failed", "ignore", "--connection", "sandbox", NO_PART,
                       "--note", "  ", "--by", "Ana")  # fmt: skip
    assert code == 2 and "--note is empty" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli(capsys, "failed", "ignore", "--connection", "sandbox", "PO-NOPE",
                       "--note", "n", "--by", "Ana")  # fmt: skip
    assert code == 2
    assert "record 'PO-NOPE': no open failed record on connection 'sandbox'" in err
    code, _, err = cli(capsys, "failed", "resolve", "--connection", "sandbox", NO_PART,
                       "--note", "n", "--by", "Ana\nEvil")  # fmt: skip
    assert code == 2 and "--by must be a name on one line" in err

    s = store()
    s.record_failed(RecordRef("sandbox", "gl_postings", NO_PART), reason="rejected",
                    message="m", payload=None,
                    audit=Audit("fail", partition_key=PERIOD))  # fmt: skip
    code, _, err = cli(capsys, "failed", "resolve", "--connection", "sandbox", NO_PART,
                       "--note", "n", "--by", "Ana")  # fmt: skip
    assert code == 2 and "several flows (gl_postings, purchase_orders); name one with --flow" in err
    assert len(s.failed(connection="sandbox")) == 3  # nothing was closed

    # A failure recorded without the payload that failed (as before migration 0009)
    # can be closed, and says that the next run will try it again.
    code, _, err = cli(capsys, "failed", "resolve", "--connection", "sandbox", "--flow",
                       "gl_postings", NO_PART, "--note", "n", "--by", "Ana")  # fmt: skip
    assert code == 0
    assert f"{NO_PART} failed before the connector recorded which version failed" in err
    assert len(s.failed(connection="sandbox")) == 2
    s.close()
