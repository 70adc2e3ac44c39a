"""F5 the way production fails: kill -9 in the middle of the write (between a header
and its lines too) with the database east of UTC, and an IFS that drops answers
after the write took effect. Real HTTP, real PostgreSQL, real child processes."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from connector_dagster.defs.st_purchase_orders.spec import SPEC
from connector_dagster.engine import flow
from connector_dagster.engine.records import Period
from connector_dagster.engine.session import Session
from connector_dagster.engine.sync import RecordFailure
from connector_dagster.kits.purchase_orders.provenance import reference_marker
from connector_dagster.lib.store import RecordRef, Store
from connector_dagster_tests.flows import support
from connector_dagster_tests.flows.st_purchase_orders.test_flow import (
    SYNCABLE,
    assert_same_pos,
    failed,
    ifs_raised,
    materialize,
    st_raised,
)

FLOW = "st_purchase_orders"


def ifs_posts(base: str) -> int:
    rows = httpx.get(f"{base}/_sandbox/requests", timeout=10).json()
    return sum(r["count"] for r in rows if r["method"] == "POST" and "PurchaseOrder" in r["route"]
               and r["status"] < 300)  # fmt: skip


def assert_exactly_once(period: str, db_url: str) -> Counter:
    """Each syncable ServiceTitan PO of the period has exactly one IFS PO, with its lines;
    the ledger names it; nothing is pending."""
    st = st_raised(period)
    syncable = {n for n, po in st.items() if po["status"] in SYNCABLE}
    assert_same_pos(st, syncable)
    store = Store(db_url)
    ledger = store.ledger_for_partition("sandbox", FLOW, period)
    store.close()
    headers, _ = ifs_raised()
    for po in st.values():
        entry = ledger.get(str(po["id"]))
        if po["number"] in syncable:
            assert entry is not None and entry.status == "synced", (po["number"], entry)
            assert [h["OrderNo"] for h in headers[po["number"]]] == [entry.target_id]
    return Counter(e.status for e in ledger.values())


def test_kill9_mid_write_then_a_rerun_leaves_one_po_each(east_of_utc: dict, db_env: str) -> None:
    """Three periods: each write is killed with SIGKILL after some IFS creates (headers
    or lines); then a clean run completes each period, and one more writes nothing.
    (The kills come first, so each killed step's leases lapse while the next runs.)"""
    ifs_base = east_of_utc["ifs"]["base_url"]
    httpx.put(f"{ifs_base}/_sandbox/faults", json={"latency_ms": 15}, timeout=10)
    killed = 0
    periods = (("2026-07-01", 4), ("2026-08-01", 17), ("2026-09-01", 40))
    try:
        for period, kill_after in periods:
            httpx.delete(f"{ifs_base}/_sandbox/requests", timeout=10).raise_for_status()
            proc = support.start_write(FLOW, period, tenant_pace=True)
            assert proc.stdout is not None and proc.stdout.readline().strip() == "read"
            while proc.poll() is None and ifs_posts(ifs_base) < kill_after:
                time.sleep(0.005)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                killed += 1
            proc.wait(timeout=60)
        for period, _ in periods:
            counts = support.write_in_process(FLOW, period)
            assert counts["failed"] == counts["leased_elsewhere"] == 0, counts
            statuses = assert_exactly_once(period, db_env)
            assert statuses.get("pending", 0) == 0, (period, statuses)
            again = support.write_in_process(FLOW, period)
            assert again["created"] == again["updated"] == again["adopted"] == 0, again
    finally:
        httpx.put(f"{ifs_base}/_sandbox/faults", json={}, timeout=10).raise_for_status()
    assert killed == 3


CRASH_SCRIPT = """
import os
from connector_dagster.defs.st_purchase_orders.target import IfsRaisedPurchaseOrders
from connector_dagster_tests.flows.support import sync_first

class Crashing(IfsRaisedPurchaseOrders):
    def _apply_lines(self, record, order_no, current):
        print(record.key, order_no, flush=True)
        first = {"OrderNo": order_no, **record.payload["lines"][0]}
        self.ifs.create(self.settings.lines_set, first)
        os._exit(9)  # killed after the header and its first line, before the others

sync_first("st_purchase_orders", "2026-10-01", Crashing, lambda r: len(r.payload["lines"]) > 1)
"""


def test_a_crash_between_a_header_and_its_lines_is_completed_by_the_rerun(
    sandbox_connection: dict, db_env: str
) -> None:
    proc = support.crash(CRASH_SCRIPT)
    key, order_no = proc.stdout.split()
    assert materialize().success
    st = st_raised()
    assert_same_pos(st, {n for n, po in st.items() if po["status"] in SYNCABLE})
    store = Store(db_env)
    entry = store.ledger("sandbox", FLOW, [key])[key]
    assert (entry.status, entry.target_id) == ("synced", order_no)
    trail = [a["action"] for a in store.audit_trail(RecordRef("sandbox", FLOW, key))]
    store.close()
    assert trail[-2:] == ["adopt", "update"]


def test_an_ifs_that_drops_answers_still_ends_with_one_po_each(
    sandbox_connection: dict, db_env: str
) -> None:
    """Resets and timeouts after the write took effect, 500s and 429s, on every IFS call:
    each PO ends synced or classified, and once the faults stop, a re-run completes the
    period with no duplicate header or line."""
    path = Path(os.environ["CONNECTOR_CONNECTIONS_FILE"])
    text = path.read_text().replace("company: ACME01}", "company: ACME01, timeout_s: 1}")
    path.write_text(text)
    ifs_base = sandbox_connection["ifs"]["base_url"]
    profile = {"rate_429": 0.05, "rate_500": 0.05, "rate_reset": 0.08, "rate_timeout": 0.02,
               "timeout_s": 2, "retry_after_s": 1, "seed": 5}  # fmt: skip
    httpx.put(f"{ifs_base}/_sandbox/faults", json=profile, timeout=10).raise_for_status()
    try:
        result = materialize()
    finally:
        httpx.put(f"{ifs_base}/_sandbox/faults", json={}, timeout=10).raise_for_status()
    seen = httpx.get(f"{ifs_base}/_sandbox/requests", timeout=10).json()
    assert sum(r["count"] for r in seen if r["status"] in (0, 429, 500)) > 0
    parked = failed()
    assert result.success == (parked == {})
    assert all(f.reason == "transient_exhausted" for f in parked.values()), parked
    assert materialize().success
    assert_exactly_once("2026-10-01", db_env)


def test_a_taken_order_number_on_create_is_ours_and_completed_or_a_conflict(
    sandbox_connection: dict,
) -> None:
    """Between the look-up and the create, the number was taken as OrderNo (IFS answers
    `ORA-20112 … .EXIST`): by this connector's own earlier create, whose header then gets
    its lines; or by a person, which is a conflict that changes nothing."""
    ifs_base = sandbox_connection["ifs"]["base_url"]
    with Session.open("sandbox") as session:
        settings = flow.settings_of(SPEC, session)
        reads = support.read_all(SPEC.name, session, Period.parse("2026-10-01"))
        items = SPEC.source(session, settings).items(reads)
        ours, theirs = [
            r for r in flow.to_records(SPEC, items, session.mappings(), settings, "2026-10-01")
            if r.problem is None and r.op == "upsert"
        ][:2]  # fmt: skip
        target = SPEC.target(session, settings)
        marker = reference_marker(ours.payload["number"], "sandbox")
        header = {**ours.payload["header"], "Reference": marker, "Company": "ACME01"}
        session.ifs.create(settings.headers_set, header)  # an earlier create, its lines never sent
        httpx.post(f"{ifs_base}/_sandbox/create", json={"set": "PurchaseOrderSet", "values": {
            "OrderNo": theirs.payload["number"], "VendorNo": "V1001", "OrderDate": "2026-10-02",
            "Contract": "NORTH", "Company": "ACME01", "CurrencyCode": "USD"}},
            timeout=10).raise_for_status()  # fmt: skip

        assert target.create(ours) == ours.payload["number"]
        with pytest.raises(RecordFailure) as refused:
            target.create(theirs)
    assert refused.value.reason == "conflict" and "exists already" in refused.value.message
    headers, lines = ifs_raised()
    [made] = headers[ours.payload["number"]]
    assert len(lines[made["OrderNo"]]) == len(ours.payload["lines"])
    assert theirs.payload["number"] not in headers


def test_two_overlapping_runs_of_a_period_make_one_ifs_po_each(
    east_of_utc: dict, db_env: str, tmp_path: Path
) -> None:
    """Two runs of one period at once (a pool limit of 2, or two machines), with the
    database east of UTC: both read the period, then write together. Each PO is made by
    the run that holds its lease; the other leaves it, and both succeed."""
    ifs_base = east_of_utc["ifs"]["base_url"]
    period = "2026-06-01"
    runs = support.overlapping_writes(FLOW, period, ifs_base, "/PurchaseOrderSet", tmp_path)
    assert [rc for rc, _, _ in runs] == [0, 0], [err[-2000:] for _, _, err in runs]
    reports = [json.loads(out.strip().splitlines()[-1]) for _, out, _ in runs]
    statuses = assert_exactly_once(period, db_env)
    assert sum(r["created"] + r["adopted"] for r in reports) == statuses["synced"] > 0, reports
    elsewhere = sorted(r["leased_elsewhere"] for r in reports)
    assert elsewhere[0] == 0 and elsewhere[1] >= statuses["synced"], reports
    assert support.write_in_process(FLOW, period)["created"] == 0
