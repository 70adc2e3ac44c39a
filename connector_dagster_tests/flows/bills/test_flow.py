"""Flow F4 end to end: ServiceTitan AP and inventory bills into IFS posting sets, over real
HTTP against the sandbox and a real PostgreSQL, compared through both APIs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import httpx

from connector_dagster.engine import registry
from connector_dagster.engine.session import Session
from connector_dagster.lib import mapping
from connector_dagster.lib.settings import PROJECT_ROOT
from connector_dagster.lib.store import Store
from connector_dagster_tests.flows import support
from connector_dagster_tests.flows.postings import (
    balanced,
    clear,
    defs,
    failed,
    ledger,
    mappings,
    materialize,
    postings,
    requests,
    set_connection,
    totals_ifs,
    writes,
)

FLOW = "bills"
PERIOD = "2026-10-01"
COMMAND = [
    "asset", "materialize", "-m", "connector_dagster.definitions", "--select",
    "sandbox/servicetitan_bills,sandbox/ifs_bill_postings", "--partition", PERIOD,
]  # fmt: skip
PREFIX = {"ap": "ST-APB-", "inventory": "ST-INB-"}
TYPES = {"ap": "ApBill", "inventory": "Procurement"}


def st_bills(period: str = PERIOD) -> dict[str, dict[str, Any]]:
    """The period's bills of both kinds read through ServiceTitan's API, by ledger key."""
    start = date.fromisoformat(period)
    end = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    found = {}
    with Session.open("sandbox") as session:
        for kind, bill_type in TYPES.items():
            params = {
                "billType": bill_type,
                "dateFrom": f"{start}T00:00:00Z",
                "dateTo": f"{end - timedelta(days=1)}T00:00:00Z",
            }
            for bill in session.servicetitan.iter_pages("accounting", "ap-bills", params):
                found[f"{kind}-{bill['id']}"] = bill
    return found


def expected(bill: dict[str, Any], maps: dict[str, dict[str, Any]]) -> Counter:
    """Net debit per (IFS account, cost centre) a bill must post."""
    centre = maps["business_units"][str(bill["businessUnit"]["id"])]["cost_centre"]
    sums: Counter = Counter()
    for item in bill["items"]:
        account = maps["ifs_accounts"][str(item["generalLedgerAccount"]["id"])]
        sums[(account, centre)] += Decimal(item["quantity"]) * Decimal(item["cost"])
    for line in bill["expenseItems"] or []:
        account = maps["ifs_accounts"][str(line["generalLedgerAccount"]["id"])]
        sums[(account, centre)] += Decimal(line["amount"])
    extra = Decimal(bill["taxAmount"]) + Decimal(bill["shippingAmount"])
    sums[("1300", centre)] += extra
    sums[("2000", centre)] -= Decimal(bill["billAmount"]) + extra
    return Counter({k: v for k, v in sums.items() if v})


def postable(bills: dict[str, dict[str, Any]]) -> set[str]:
    return {
        k for k, b in bills.items() if b["syncStatus"] == "Posted" and b["status"] != "Canceled"
    }


def assert_posted(keys: set[str], period: str = PERIOD) -> None:
    """Exactly one checked, balanced posting set per bill in `keys` (none for the period's
    others), with the bill's totals per account and cost centre; each bill marked
    exported in ServiceTitan and its IFS key in the ledger."""
    bills, maps = st_bills(period), mappings()
    sets = {**postings("ST-APB-"), **postings("ST-INB-")}
    wanted = {PREFIX[k.split("-")[0]] + k.split("-")[1]: k for k in bills}
    assert {r for r in sets if r in wanted} == {r for r, k in wanted.items() if k in keys}
    written = ledger(FLOW, period)
    for ref, key in wanted.items():
        if key not in keys:
            continue
        [posting] = sets[ref]
        assert balanced(posting) and posting["Objstate"] == "Checked", key
        assert totals_ifs(posting) == expected(bills[key], maps), key
        assert posting["VoucherDate"] == bills[key]["billDate"][:10]
        assert bills[key]["syncStatus"] == "PostedAndExported", key
        assert written[key].target_id == f"{posting['Company']}/{posting['LoadId']}"


def test_the_readme_command_posts_each_bill_once_and_a_rerun_writes_nothing(
    sandbox_connection: dict,
) -> None:
    keys = postable(st_bills())
    assert {k.split("-")[0] for k in keys} == {"ap", "inventory"}
    dagster = Path(sys.executable).parent / "dagster"
    proc = subprocess.run(
        [str(dagster), *COMMAND], cwd=PROJECT_ROOT, env=dict(os.environ), capture_output=True,
        text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert_posted(keys)
    assert failed(FLOW) == {}
    ifs, st = sandbox_connection["ifs"]["base_url"], sandbox_connection["servicetitan"]["api_url"]
    clear(ifs)
    clear(st)
    assert materialize(FLOW, PERIOD).success
    assert writes(ifs) == Counter() and writes(st) == Counter()


def test_bills_exported_by_someone_else_are_reported_not_posted(sandbox_connection: dict) -> None:
    bills = st_bills()
    keys = postable(bills)
    ap = sorted(k for k in keys if k.startswith("ap-"))[0]
    inventory = sorted(k for k in keys if k.startswith("inventory-"))[0]
    st = sandbox_connection["servicetitan"]["api_url"]
    for key, resource in ((ap, "ap-bills"), (inventory, "inventory-bills")):
        bill_id = key.split("-")[1]
        httpx.post(f"{st}/_sandbox/{resource}/{bill_id}/exported", json={}, timeout=10)
    result = materialize(FLOW, PERIOD)
    assert result.success, failed(FLOW)
    assert all(e.passed for e in result.get_asset_check_evaluations())
    [write] = [
        m.materialization.metadata
        for m in result.get_asset_materialization_events()
        if m.asset_key.path[-1] == "ifs_bill_postings"
    ]
    notes = write["not_written_why"].value
    assert f"{ap}: AP bill {ap[3:]} is PostedAndExported in ServiceTitan by someone else " in (
        "\n".join(notes)
    )
    assert any(n.startswith(f"{inventory}: inventory bill ") for n in notes)
    sets = {**postings("ST-APB-"), **postings("ST-INB-")}
    assert f"ST-APB-{ap[3:]}" not in sets and f"ST-INB-{inventory[10:]}" not in sets
    assert len(sets) == len(keys) - 2


def test_bad_mappings_park_the_bills_that_need_them(sandbox_connection: dict, db_env: str) -> None:
    """A business unit with no cost centre, an unknown GL account: each bill that needs
    one is `mapping_missing` naming the bill, its line and the field; the others post."""
    bills = st_bills()
    keys = postable(bills)
    store = Store(db_env)
    tables = registry.tables()
    mapping.ensure_loaded(store, "sandbox", registry.connection("sandbox").mappings, tables)
    for kind, code in (("business_units", "502"), ("ifs_accounts", "610")):
        mapping.set_entry(store, "sandbox", kind, code, None, tables)
    store.close()

    def needs(bill: dict[str, Any]) -> list[str]:
        why = []
        if bill["businessUnit"]["id"] == 502:
            why.append("businessUnit '502' has no IFS company and cost centre mapping")
        for line in bill["expenseItems"] or []:
            if line["generalLedgerAccount"]["id"] == 610:
                why.append(f"expense {line['id']} generalLedgerAccount '610' (6100 Vehicle "
                           "Expense) has no IFS account mapping")  # fmt: skip
        return why

    affected = {k for k in keys if needs(bills[k])}
    assert affected
    assert not materialize(FLOW, PERIOD).success
    parked = failed(FLOW)
    assert set(parked) == affected
    for key in affected:
        name = "AP bill" if key.startswith("ap-") else "inventory bill"
        assert parked[key].reason == "mapping_missing"
        for why in needs(bills[key]):
            assert f"{name} {key.split('-')[1]}: {why}" in parked[key].message
    assert_posted(keys - affected)


def test_kill9_mid_write_with_batch_then_a_rerun_leaves_one_posting_set_per_bill(
    east_of_utc: dict,
) -> None:
    ifs = east_of_utc["ifs"]["base_url"]
    set_connection(batch=True)
    httpx.put(f"{ifs}/_sandbox/faults", json={"latency_ms": 30}, timeout=10).raise_for_status()
    try:
        clear(ifs)
        keys = postable(st_bills())
        proc = support.start_write(FLOW, PERIOD, tenant_pace=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "read"
        batch = ("POST", "POST ExternalVoucherHandling.svc/$batch")
        while proc.poll() is None and requests(ifs)[batch] < 2:  # 10 bills to one
            time.sleep(0.01)
        assert proc.poll() is None, "the write ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        counts = support.write_in_process(FLOW, PERIOD)
        assert counts["failed"] == 0, (counts, failed(FLOW))
        assert_posted(keys)
        assert support.write_in_process(FLOW, PERIOD)["created"] == 0
    finally:
        httpx.put(f"{ifs}/_sandbox/faults", json={}, timeout=10).raise_for_status()


def test_the_change_sensor_requests_the_period_of_a_changed_bill(
    sandbox_connection: dict,
) -> None:
    [sensor] = defs(FLOW).sensors
    first = sensor(dg.build_sensor_context(cursor=None))
    assert first.run_requests == []
    key = sorted(k for k in st_bills("2026-09-01") if k.startswith("ap-"))[0]
    st = sandbox_connection["servicetitan"]["api_url"]
    httpx.post(f"{st}/_sandbox/ap-bills/{key[3:]}/exported", json={}, timeout=10)
    [request] = sensor(dg.build_sensor_context(cursor=first.cursor)).run_requests
    assert request.partition_key == "2026-09-01"
    assert request.run_key.startswith("bills-2026-09-01-")
