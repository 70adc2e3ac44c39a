"""F3 the way production fails: kill -9 in the middle of the write (request by request,
and with `$batch`), stale ETags on updates, a posting set edited in IFS between the
read and the write, bad invoices, and texts with quotes and unicode."""

from __future__ import annotations

import os
import signal
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from connector_dagster.engine import flow, registry
from connector_dagster.engine.records import Period
from connector_dagster.engine.session import Session
from connector_dagster.lib.store import Store
from connector_dagster_tests.flows import support
from connector_dagster_tests.flows.invoices.test_flow import (
    FLOW,
    PERIOD,
    assert_posted,
    postable,
    st_invoices,
    st_post,
)
from connector_dagster_tests.flows.postings import (
    clear,
    failed,
    materialize,
    postings,
    requests,
    set_connection,
    writes,
)

CREATES = {
    False: ("POST", "POST ExternalVoucherHandling.svc/ExternalVoucherSet"),
    True: ("POST", "POST ExternalVoucherHandling.svc/$batch"),
}


KILL_AFTER = {False: (3, 11), True: (1, 3)}
"""Creates (requests) seen by IFS before the write is killed, per period."""


def edit_ifs(info: dict, set_name: str, key: dict, **changes: object) -> None:
    """Change a record in IFS as a user would."""
    httpx.post(
        f"{info['ifs']['base_url']}/_sandbox/edit",
        json={"set": set_name, "key": key, "changes": changes},
        timeout=10,
    ).raise_for_status()


@pytest.mark.parametrize("batch", [False, True])
def test_kill9_mid_write_then_a_rerun_leaves_one_posting_set_per_invoice(
    east_of_utc: dict, db_env: str, batch: bool
) -> None:
    ifs = east_of_utc["ifs"]["base_url"]
    set_connection(batch=batch)
    httpx.put(f"{ifs}/_sandbox/faults", json={"latency_ms": 30}, timeout=10).raise_for_status()
    try:
        # with `$batch`, 10 invoices to a request: a period is about 6 of them
        for period, kill_after in zip(("2026-08-01", "2026-09-01"), KILL_AFTER[batch], strict=True):
            clear(ifs)
            proc = support.start_write(FLOW, period, tenant_pace=True)
            assert proc.stdout is not None and proc.stdout.readline().strip() == "read"
            while proc.poll() is None and requests(ifs)[CREATES[batch]] < kill_after:
                time.sleep(0.01)
            assert proc.poll() is None, f"{period}: the write ended before it could be killed"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
            counts = support.write_in_process(FLOW, period)
            assert counts["failed"] == 0, (period, counts, failed(FLOW))
            keys = postable(st_invoices(period))
            assert_posted(keys, period)
            store = Store(db_env)
            ledger = store.ledger_for_partition("sandbox", FLOW, period)
            store.close()
            sets = postings("ST-INV-")
            assert {k: e.target_id for k, e in ledger.items() if e.target_id} == {
                k: f"ACME01/{sets[f'ST-INV-{k}'][0]['LoadId']}" for k in keys
            }
            clear(ifs)
            assert support.write_in_process(FLOW, period)["created"] == 0
            assert writes(ifs) == {}
    finally:
        httpx.put(f"{ifs}/_sandbox/faults", json={}, timeout=10).raise_for_status()


def test_updates_with_stale_etags_are_reread_and_end_right(sandbox_connection: dict) -> None:
    """Invoices changed in ServiceTitan after they were posted; IFS users edit the rows
    just before half of the writes (a stale ETag each time): each update re-reads and
    re-applies; one that meets three stale ETags in a row is a `conflict`, written by the
    next run. In the end every change is in IFS."""
    assert materialize(FLOW, PERIOD).success
    changed = sorted(postable(st_invoices()))[:4]
    for n, key in enumerate(changed):
        items = [{"skuId": 61002, "quantity": n + 2}, {"skuId": 55501 + n, "quantity": 3}]
        st_post(sandbox_connection, "/_sandbox/invoices", {"id": int(key), "items": items})
    ifs = sandbox_connection["ifs"]["base_url"]
    profile = {"rate_stale_etag": 0.5, "seed": 7}
    httpx.put(f"{ifs}/_sandbox/faults", json=profile, timeout=10).raise_for_status()
    try:
        first = materialize(FLOW, PERIOD)
        stale = sum(
            r["count"]
            for r in httpx.get(f"{ifs}/_sandbox/requests", timeout=10).json()
            if r["status"] == 412
        )
    finally:
        httpx.put(f"{ifs}/_sandbox/faults", json={}, timeout=10).raise_for_status()
    assert stale > 0
    parked = failed(FLOW)
    assert first.success == (parked == {})
    assert set(parked) <= set(changed)
    assert all(f.reason == "conflict" and "412" in f.message for f in parked.values())
    assert materialize(FLOW, PERIOD).success
    assert failed(FLOW) == {}
    assert_posted(postable(st_invoices()))


def test_a_posting_set_edited_in_ifs_between_read_and_write(
    sandbox_connection: dict, tmp_path: Path
) -> None:
    """After the read, a person edits one invoice's posting set in IFS (a row's text) and
    creates the voucher of another: the first update re-reads and lands, keeping the
    person's text (its mapped value did not change); the second is `target_locked`."""
    assert materialize(FLOW, PERIOD).success
    edited, locked = sorted(postable(st_invoices()))[:2]
    for key in (edited, locked):
        items = [{"skuId": 61003, "quantity": 3}]
        st_post(sandbox_connection, "/_sandbox/invoices", {"id": int(key), "items": items})
    sets = postings("ST-INV-")
    [edited_set], [locked_set] = sets[f"ST-INV-{edited}"], sets[f"ST-INV-{locked}"]
    receivable = next(r for r in edited_set["rows"] if r["Account"] == "1200")
    go = tmp_path / "go"
    proc = support.start_write(FLOW, PERIOD, go)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "read"
    row_key = {"Company": "ACME01", "LoadId": edited_set["LoadId"], "RowNo": receivable["RowNo"]}
    edit_ifs(sandbox_connection, "ExternalVoucherRowSet", row_key, Text="checked by J. Müller")
    voucher = {"Company": "ACME01", "LoadId": locked_set["LoadId"]}
    edit_ifs(sandbox_connection, "ExternalVoucherSet", voucher, Objstate="Created")
    go.touch()
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    parked = failed(FLOW)
    assert set(parked) == {locked} and parked[locked].reason == "target_locked"
    assert f"invoice {locked!r}: IFS ExternalVoucher ACME01/{locked_set['LoadId']}" in (
        parked[locked].message
    )
    [after] = postings("ST-INV-")[f"ST-INV-{edited}"]
    assert after["LoadId"] == edited_set["LoadId"]
    assert_posted(postable(st_invoices()) - {locked}, besides={locked})
    [row] = [r for r in after["rows"] if r["RowNo"] == receivable["RowNo"]]
    assert row["Text"] == "checked by J. Müller"


def test_invoices_without_items_or_whose_items_do_not_add_up_are_parked(
    sandbox_connection: dict,
) -> None:
    """The read as ServiceTitan would answer it for a broken invoice: one with no items,
    one whose items do not add up to its subtotal. The record check names both, the
    write parks them as `validation` naming the invoice and the field, writes the others,
    and writes them once they are right, without doubling anything."""
    spec = registry.flow(FLOW)
    keys = sorted(postable(st_invoices()))
    empty, wrong = keys[0], keys[1]
    with Session.open("sandbox") as session:
        reads = support.read_all(FLOW, session, Period.parse(PERIOD))
        broken = {name: dict(frames) for name, frames in reads.items()}
        frames = broken["servicetitan_invoices"]
        items = frames["items"]
        frames["items"] = items[items["invoiceId"] != int(empty)].reset_index(drop=True)
        first = frames["items"].index[frames["items"]["invoiceId"] == int(wrong)][0]
        frames["items"] = frames["items"].copy()
        frames["items"].at[first, "total"] = str(Decimal(items.at[first, "total"]) + 1)
        assert spec.reads[0].record_check is not None
        checked = spec.reads[0].record_check(frames)
        assert f"invoice {empty}: has_items" in checked
        assert f"invoice {wrong}: items_add_up_to_subtotal" in checked
        report = flow.write(spec, session, PERIOD, broken).report
        assert set(report.failed) == {empty, wrong}
        assert report.failed[empty] == (
            "validation",
            f"invoice {empty}: has no items; add them in ServiceTitan (or deactivate the invoice)",
        )
        assert report.failed[wrong][0] == "validation"
        assert f"invoice {wrong}: its items add up to" in report.failed[wrong][1]
        assert "but its subTotal is" in report.failed[wrong][1]
        assert_posted(set(keys) - {empty, wrong})
        again = flow.write(spec, session, PERIOD, reads).report
    assert sorted(again.created) == [empty, wrong] and not again.failed
    assert_posted(set(keys))


def test_texts_with_quotes_and_unicode_round_trip_and_are_never_doubled(
    sandbox_connection: dict,
) -> None:
    """An invoice of a customer named with quotes and unicode, its summary too: intended
    in a run IFS refused (a closed period), then found by its reference and created once,
    its texts intact; a third run writes nothing."""
    summary = 'O\'Brien "Ünter" ½″ fitting, 日本 #7 & 100%'
    created = st_post(
        sandbox_connection,
        "/_sandbox/invoices",
        {"businessUnitId": 503, "customerId": 5001, "invoiceDate": "2026-10-20",
         "summary": summary, "items": [{"skuId": 55504, "quantity": 2}]},
    )  # fmt: skip
    key = str(created["id"])
    ifs = sandbox_connection["ifs"]["base_url"]
    httpx.post(f"{ifs}/_sandbox/periods/ACME01/2026-10/close", timeout=10).raise_for_status()
    assert not materialize(FLOW, PERIOD).success
    assert failed(FLOW)[key].reason == "period_closed"
    httpx.post(f"{ifs}/_sandbox/periods/ACME01/2026-10/reopen", timeout=10).raise_for_status()
    assert materialize(FLOW, PERIOD).success
    [posted] = postings("ST-INV-")[f"ST-INV-{key}"]
    assert '"Big Al" Plumbing LLC' in posted["Text"] and summary in posted["Text"]
    assert_posted(postable(st_invoices()))
    clear(ifs)
    assert materialize(FLOW, PERIOD).success
    assert writes(ifs) == {}
