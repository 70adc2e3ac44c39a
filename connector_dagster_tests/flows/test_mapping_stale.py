"""Mapping entries checked against live master data before a write: an entry pointing
at a ServiceTitan vendor that was deactivated, or at an IFS account that was blocked,
parks the records that need it as `mapping_stale` naming the entry and its fix (no
write the target would refuse is sent); once the record is active again a replay
writes each record once. Over real HTTP against the simulators and a real PostgreSQL."""

from __future__ import annotations

from collections import Counter

import httpx

from connector_dagster.engine import flow, registry, replay
from connector_dagster.engine.records import Period
from connector_dagster.engine.session import Session
from connector_dagster.kits.purchase_orders.provenance import marked_order
from connector_dagster.lib.store import FailedRecord
from connector_dagster_tests.flows import support
from connector_dagster_tests.flows.postings import failed, postings

PERIOD = "2026-10-01"


def _requests(base: str) -> Counter:
    rows = httpx.get(f"{base}/_sandbox/requests", timeout=10).json()
    rows = rows["requests"] if isinstance(rows, dict) else rows
    return Counter({(r["method"], r["route"], r["status"]): r["count"] for r in rows})


def _refused(base: str) -> int:
    """Writes the simulator answered with a 4xx."""
    return sum(
        n for (method, _, status), n in _requests(base).items()
        if method != "GET" and 400 <= int(status) < 500
    )  # fmt: skip


def _write(flow_name: str) -> flow.WriteResult:
    with Session.open("sandbox") as session:
        reads = support.read_all(flow_name, session, Period.parse(PERIOD))
        return flow.write(registry.flow(flow_name), session, PERIOD, reads)


def _upserts(flow_name: str) -> dict[str, dict]:
    """The period's records the flow would write, with their payloads."""
    spec = registry.flow(flow_name)
    with Session.open("sandbox") as session:
        settings = flow.settings_of(spec, session)
        items = spec.source(session, settings).items(
            support.read_all(flow_name, session, Period.parse(PERIOD))
        )
        records = flow.to_records(spec, items, session.mappings(), settings, PERIOD)
    return {r.key: r.payload for r in records if r.op == "upsert" and r.payload is not None}


def _replay(flow_name: str) -> None:
    with Session.open("sandbox") as session:
        [done] = replay.replay(session, flow_name, PERIOD, reason="mapping_stale")
    assert done.failed_again == {} and done.resolved == done.replayed


def _only_stale(records: dict[str, FailedRecord]) -> None:
    assert {f.reason for f in records.values()} == {"mapping_stale"}


def test_a_deactivated_vendor_parks_its_pos_as_mapping_stale_and_replay_writes_them_once(
    sandbox_connection: dict,
) -> None:
    st_base = sandbox_connection["servicetitan"]["api_url"]
    payloads = _upserts("purchase_orders")
    by_vendor = Counter(p["vendorId"] for p in payloads.values())
    vendor_id = by_vendor.most_common()[-1][0]
    with Session.open("sandbox") as session:
        vendor_no = next(
            k for k, v in session.mappings().table("vendors").items() if v == vendor_id
        )
    affected = {k for k, p in payloads.items() if p["vendorId"] == vendor_id}
    httpx.post(
        f"{st_base}/_sandbox/vendors/{vendor_id}/active", json={"active": False}, timeout=10
    ).raise_for_status()
    httpx.delete(f"{st_base}/_sandbox/requests", timeout=10).raise_for_status()

    result = _write("purchase_orders")

    parked = failed("purchase_orders")
    assert set(parked) == affected
    _only_stale(parked)
    entry = f"the `vendors` entry {vendor_no!r} -> {vendor_id} points at ServiceTitan vendor"
    fix = (
        f"which is inactive; map vendor {vendor_no} to an active ServiceTitan vendor in the "
        "`vendors` table of mappings/sandbox.yaml"
    )
    assert all(entry in f.message and fix in f.message for f in parked.values())
    assert len(result.report.created) == len(payloads) - len(affected)
    assert _refused(st_base) == 0
    # the vendors were read once for the whole step, not once per PO
    assert _requests(st_base)[("GET", "GET inventory/vendors", 200)] == 1

    httpx.post(
        f"{st_base}/_sandbox/vendors/{vendor_id}/active", json={"active": True}, timeout=10
    ).raise_for_status()
    _replay("purchase_orders")
    assert failed("purchase_orders") == {}
    with Session.open("sandbox") as session:
        pos = list(session.servicetitan.iter_pages("inventory", "purchase-orders", {}))
    orders = Counter(marked_order(po.get("summary"), "sandbox") for po in pos)
    assert all(orders[key] == 1 for key in affected)


def test_a_blocked_ifs_account_parks_the_invoices_posting_to_it_and_replay_posts_them_once(
    sandbox_connection: dict,
) -> None:
    ifs_base = sandbox_connection["ifs"]["base_url"]
    payloads = _upserts("invoices")
    using: dict[str, set[str]] = {}
    for key, payload in payloads.items():
        for row in payload["rows"]:
            using.setdefault(row["Account"], set()).add(key)
    account = min(using, key=lambda a: (len(using[a]), a))
    affected = using[account]
    assert 0 < len(affected) < len(payloads)
    blocked = {"set": "AccountSet", "key": {"Company": "ACME01", "Account": account}}
    httpx.post(
        f"{ifs_base}/_sandbox/edit", json={**blocked, "changes": {"Objstate": "Blocked"}},
        timeout=10,
    ).raise_for_status()  # fmt: skip

    result = _write("invoices")

    parked = failed("invoices")
    assert set(parked) == affected
    _only_stale(parked)
    assert all(
        f"points at IFS account {account} " in f.message and "which is blocked; map " in f.message
        and "to an active IFS account in the `" in f.message
        for f in parked.values()
    )  # fmt: skip
    assert len(result.report.created) == len(payloads) - len(affected)
    assert not any(f"ST-INV-{key}" in postings("ST-INV-") for key in affected)

    httpx.post(
        f"{ifs_base}/_sandbox/edit", json={**blocked, "changes": {"Objstate": "Active"}},
        timeout=10,
    ).raise_for_status()  # fmt: skip
    _replay("invoices")
    assert failed("invoices") == {}
    sets = postings("ST-INV-")
    assert all(len(sets[f"ST-INV-{key}"]) == 1 for key in affected)
