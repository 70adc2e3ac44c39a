"""F2 the way production fails: kill -9 in the middle of the write with the database
east of UTC, and a proposal edited in IFS between the read and the write."""

from __future__ import annotations

import os
import signal
import time

import httpx

from connector_dagster.lib.store import Store
from connector_dagster_tests.flows import support
from connector_dagster_tests.flows.gl_postings.test_flow import (
    assert_entries_match,
    edit_row,
    failed,
    ifs_proposals,
    st_entries,
    syncable,
)


def journal_posts(st_base: str) -> int:
    rows = httpx.get(f"{st_base}/_sandbox/requests", timeout=10).json()
    return sum(
        r["count"]
        for r in rows
        if r["method"] == "POST" and r["route"].endswith("journal-entries") and r["status"] < 300
    )


def test_kill9_mid_write_then_a_rerun_leaves_one_entry_per_proposal(
    east_of_utc: dict, db_env: str
) -> None:
    st_base = east_of_utc["servicetitan"]["api_url"]
    httpx.put(f"{st_base}/_sandbox/faults", json={"latency_ms": 30}, timeout=10)
    periods = (("2026-07-01", 3), ("2026-08-01", 9), ("2026-09-01", 1))
    for period, kill_after in periods:  # killed first: their leases lapse meanwhile
        httpx.delete(f"{st_base}/_sandbox/requests", timeout=10).raise_for_status()
        proc = support.start_write("gl_postings", period, tenant_pace=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "read"
        while proc.poll() is None and journal_posts(st_base) < kill_after:
            time.sleep(0.01)
        assert proc.poll() is None, f"{period}: the write ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    for period, _ in periods:
        counts = support.write_in_process("gl_postings", period)
        assert counts["failed"] == 0, (period, counts, failed())
        heads = ifs_proposals(period)
        assert_entries_match(heads, syncable(heads))
        store = Store(db_env)
        ledger = store.ledger_for_partition("sandbox", "gl_postings", period)
        store.close()
        entries = st_entries()
        assert {k: e.target_id for k, e in ledger.items() if e.target_id} == {
            k: str(entries[k][0]["id"]) for k in syncable(heads)
        }
        assert support.write_in_process("gl_postings", period)["created"] == 0


def test_a_proposal_changed_between_read_and_write_is_a_conflict(
    sandbox_connection: dict, tmp_path
) -> None:
    """The write sees the proposal's row changed since the read: it is parked as
    `conflict` naming the proposal, the others are written, and the next run writes it."""
    heads = ifs_proposals()
    key = sorted(syncable(heads))[0]
    go = tmp_path / "go"
    proc = support.start_write("gl_postings", "2026-10-01", go)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "read"
    edit_row(sandbox_connection, heads[key], heads[key]["rows"][0], Text="changed by a person")
    go.touch()
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    parked = failed()
    assert set(parked) == {key} and parked[key].reason == "conflict"
    assert f"proposal {key!r} changed in IFS" in parked[key].message
    assert key not in st_entries()
    assert support.write_in_process("gl_postings", "2026-10-01")["created"] == 1
    heads = ifs_proposals()
    assert_entries_match(heads, syncable(heads))
