"""Flow F1 end to end: IFS purchase orders into ServiceTitan, over real HTTP
against the sandbox and a real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import dagster as dg
import httpx
import pytest

from connector_dagster.defs.purchase_orders.spec import SPEC
from connector_dagster.engine import registry
from connector_dagster.engine.session import Session
from connector_dagster.kits.purchase_orders.provenance import marked_order
from connector_dagster.lib import mapping
from connector_dagster.lib.settings import PROJECT_ROOT
from connector_dagster.lib.store import RecordRef, Store
from connector_dagster.systems.ifs import odata
from connector_dagster_tests.flows import support

PERIOD = "2026-10-01"
SYNCABLE = {"Released", "Confirmed", "Arrived", "Received", "Closed"}


def defs() -> dg.Definitions:
    return support.defs(SPEC.name)


def materialize(selection: str = "*", period: str = PERIOD) -> dg.ExecuteInProcessResult:
    return support.materialize(SPEC.name, period, None if selection == "*" else selection)


def clients():
    session = Session.open("sandbox")
    return session.ifs, session.servicetitan


def state_store() -> Store:
    return Store(os.environ["CONNECTOR_DATABASE_URL"])


def writes(base: str, marker: str = "purchase-orders") -> Counter:
    rows = httpx.get(f"{base}/_sandbox/requests", timeout=10).json()
    rows = rows["requests"] if isinstance(rows, dict) else rows
    return Counter(
        {
            (r["method"], r["route"]): r["count"]
            for r in rows
            if r["method"] in ("POST", "PATCH", "PUT", "DELETE") and marker in r["route"]
        }
    )


def edit_po(info: dict, key: str, **changes: object) -> None:
    """Change a PO header in IFS as a user would."""
    httpx.post(
        f"{info['ifs']['base_url']}/_sandbox/edit",
        json={"set": "PurchaseOrderSet", "key": {"OrderNo": key}, "changes": changes},
        timeout=10,
    ).raise_for_status()


def clear_counts(base: str) -> None:
    httpx.delete(f"{base}/_sandbox/requests", timeout=10).raise_for_status()


def st_pos_by_order() -> dict[str, list[dict]]:
    _, st = clients()
    found: dict[str, list[dict]] = {}
    for po in st.iter_pages("inventory", "purchase-orders", {}):
        order_no = marked_order(po.get("summary"), "sandbox")
        if order_no is not None:
            found.setdefault(order_no, []).append(po)
    return found


def ifs_period_pos(period: str = PERIOD) -> tuple[dict[str, dict], dict[str, list[dict]]]:
    from datetime import date

    ifs, _ = clients()
    start = date.fromisoformat(period)
    end = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    headers = {
        r["OrderNo"]: dict(r)
        for r in ifs.query(
            "PurchaseOrderHandling.svc/PurchaseOrderSet",
            filter=odata.and_(odata.ge("OrderDate", start), odata.lt("OrderDate", end)),
            keys=("OrderNo",),
        )
    }
    lines: dict[str, list[dict]] = {}
    for key in headers:
        lines[key] = [
            dict(r)
            for r in ifs.query(
                "PurchaseOrderHandling.svc/PurchaseOrderLineSet",
                filter=odata.eq("OrderNo", key),
                keys=("OrderNo", "LineNo", "ReleaseNo"),
            )
        ]
    return headers, lines


def test_period_is_synced_exactly_once_and_a_rerun_sends_no_writes(
    sandbox_connection: dict,
) -> None:
    result = materialize()
    assert result.success, result.all_events
    [check] = result.get_asset_check_evaluations()
    assert check.passed

    headers, lines = ifs_period_pos()
    syncable = {k for k, h in headers.items() if h["Objstate"] in SYNCABLE}
    st = st_pos_by_order()
    assert set(st) == syncable
    for key in syncable:
        [po] = st[key]
        active = [i for i in po["items"] if i.get("status") != "Inactive"]
        ifs_lines = sorted(lines[key], key=lambda ln: Decimal(str(ln["LineNo"])))
        assert len(active) == len(ifs_lines)
        for item, line in zip(sorted(active, key=lambda i: i["id"]), ifs_lines, strict=True):
            assert Decimal(str(item["quantity"])) == Decimal(str(line["BuyQtyDue"]))
            assert Decimal(str(item["cost"])) == Decimal(str(line["BuyUnitPrice"]))
            assert item["vendorPartNumber"] == line["PartNo"]
        subtotal = sum(
            Decimal(str(ln["BuyQtyDue"])) * Decimal(str(ln["BuyUnitPrice"])) for ln in ifs_lines
        )
        assert Decimal(str(po["total"])) == (
            subtotal + Decimal(str(po["tax"])) + Decimal(str(po["shipping"]))
        ).quantize(Decimal("0.01"))

    st_base = sandbox_connection["servicetitan"]["api_url"]
    ifs_base = sandbox_connection["ifs"]["base_url"]
    clear_counts(st_base)
    clear_counts(ifs_base)
    assert materialize().success
    assert writes(st_base, "") == Counter()
    assert writes(ifs_base, "") == Counter()


def test_ifs_edit_is_one_update_and_cancellation_is_one_cancel(sandbox_connection: dict) -> None:
    assert materialize().success
    headers, lines = ifs_period_pos()
    key = next(k for k, h in headers.items() if h["Objstate"] == "Released" and lines[k])
    ifs_base = sandbox_connection["ifs"]["base_url"]
    st_base = sandbox_connection["servicetitan"]["api_url"]
    line = lines[key][0]
    edit = {
        "set": "PurchaseOrderLineSet",
        "key": {"OrderNo": key, "LineNo": line["LineNo"], "ReleaseNo": line["ReleaseNo"]},
        "changes": {"BuyQtyDue": Decimal(str(line["BuyQtyDue"])) + 5},
    }
    edit["changes"]["BuyQtyDue"] = float(edit["changes"]["BuyQtyDue"])
    httpx.post(f"{ifs_base}/_sandbox/edit", json=edit, timeout=10).raise_for_status()
    clear_counts(st_base)
    assert materialize().success
    changed = writes(st_base)
    assert sum(changed.values()) == 1 and next(iter(changed))[0] == "PATCH"
    [po] = st_pos_by_order()[key]
    first = min((i for i in po["items"] if i.get("status") != "Inactive"), key=lambda i: i["id"])
    assert Decimal(str(first["quantity"])) == Decimal(str(edit["changes"]["BuyQtyDue"]))

    edit_po(sandbox_connection, key, Objstate="Cancelled")
    clear_counts(st_base)
    assert materialize().success
    changed = writes(st_base)
    assert sum(changed.values()) == 1
    assert "cancel" in next(iter(changed))[1]
    [po] = st_pos_by_order()[key]
    assert po["status"] == "Canceled"


def test_missing_vendor_mapping_parks_the_po_and_replay_after_fix_resolves_it(
    sandbox_connection: dict, db_env: str
) -> None:
    headers, _ = ifs_period_pos()
    vendor = Counter(h["VendorNo"] for h in headers.values() if h["Objstate"] in SYNCABLE)
    vendor_no = vendor.most_common()[-1][0]
    store = Store(db_env)
    path = PROJECT_ROOT / "connector_dagster/mappings/sandbox.yaml"
    mapping.ensure_loaded(store, "sandbox", path, registry.tables())
    st_id = mapping.load(store, "sandbox").table("vendors")[vendor_no]
    mapping.set_entry(store, "sandbox", "vendors", vendor_no, None, registry.tables())

    result = materialize()
    assert not result.success
    failed = store.failed(connection="sandbox", flow="purchase_orders")
    affected = {k for k, h in headers.items() if h["VendorNo"] == vendor_no and
                h["Objstate"] in SYNCABLE}  # fmt: skip
    assert {f.source_key for f in failed} == affected
    assert all(f.reason == "mapping_missing" for f in failed)
    assert all(f"VendorNo {vendor_no!r} has no vendor mapping" in f.message for f in failed)
    st = st_pos_by_order()
    syncable = {k for k, h in headers.items() if h["Objstate"] in SYNCABLE}
    assert set(st) == syncable - affected

    mapping.set_entry(store, "sandbox", "vendors", vendor_no, st_id, registry.tables())
    assert materialize().success
    assert store.failed(connection="sandbox", flow="purchase_orders") == []
    assert set(st_pos_by_order()) == syncable
    ledger = store.ledger("sandbox", "purchase_orders", affected)
    assert all(e.status == "synced" and "+edit2" in e.mapping_version for e in ledger.values())
    store.close()


def test_po_changed_while_being_synced_is_parked_as_conflict(sandbox_connection: dict) -> None:
    headers, _ = ifs_period_pos()
    key = next(k for k, h in headers.items() if h["Objstate"] == "Released")
    result = support.read_then_write(
        SPEC.name, PERIOD, lambda: edit_po(sandbox_connection, key, WantedReceiptDate="2026-12-24")
    )
    assert result.report.failed[key][0] == "conflict"
    store = state_store()
    [failed] = store.failed(connection="sandbox")
    assert (failed.source_key, failed.reason) == (key, "conflict")
    assert key not in st_pos_by_order()
    # the next run reads the new version and writes it
    assert materialize().success
    assert key in st_pos_by_order()


def test_po_locked_in_servicetitan_becomes_target_locked(sandbox_connection: dict) -> None:
    assert materialize().success
    headers, lines = ifs_period_pos()
    key = next(k for k, h in headers.items() if h["Objstate"] == "Released" and lines[k])
    [po] = st_pos_by_order()[key]
    st_base = sandbox_connection["servicetitan"]["api_url"]
    httpx.post(
        f"{st_base}/_sandbox/purchase-orders/{po['id']}/status",
        json={"status": "Received"},
        timeout=10,
    ).raise_for_status()
    edit_po(sandbox_connection, key, WantedReceiptDate="2026-12-24")
    clear_counts(st_base)
    assert not materialize().success
    [failed] = state_store().failed(connection="sandbox")
    assert (failed.source_key, failed.reason) == (key, "target_locked")
    assert "Received" in failed.message
    assert writes(st_base) == Counter()


CRASH_SCRIPT = """
import os
from connector_dagster.defs.purchase_orders.target import ServiceTitanPurchaseOrders
from connector_dagster_tests.flows.support import sync_first

class Crashing(ServiceTitanPurchaseOrders):
    def create(self, record):
        target_id = super().create(record)
        print(record.key, target_id, flush=True)
        os._exit(9)  # killed between the create and the ledger commit

sync_first("purchase_orders", "2026-10-01", Crashing)
"""


def test_process_killed_between_create_and_ledger_commit_leaves_one_po(
    sandbox_connection: dict, db_env: str
) -> None:
    proc = support.crash(CRASH_SCRIPT)
    key, target_id = proc.stdout.split()
    store = Store(db_env)
    assert store.ledger("sandbox", "purchase_orders", [key])[key].status == "pending"
    assert materialize().success
    pos = st_pos_by_order()[key]
    assert [str(p["id"]) for p in pos] == [target_id]
    entry = store.ledger("sandbox", "purchase_orders", [key])[key]
    assert (entry.status, entry.target_id) == ("synced", target_id)
    trail = [a["action"] for a in store.audit_trail(RecordRef("sandbox", "purchase_orders", key))]
    assert trail[-2:] == ["adopt", "update"] or trail[-1] == "adopt"
    store.close()


def test_dagster_cli_materializes_the_partition(sandbox_connection: dict, tmp_path: Path) -> None:
    dagster = Path(sys.executable).parent / "dagster"
    proc = subprocess.run(
        [str(dagster), "asset", "materialize", "-m", "connector_dagster.definitions",
         "--select", "sandbox/ifs_purchase_orders,sandbox/servicetitan_purchase_orders",
         "--partition", PERIOD],
        cwd=tmp_path, env=dict(os.environ), capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    headers, _ = ifs_period_pos()
    assert set(st_pos_by_order()) == {k for k, h in headers.items() if h["Objstate"] in SYNCABLE}


def test_awkward_period_writes_the_good_and_parks_each_bad_po_with_its_reason(
    sandbox_connection: dict,
) -> None:
    """2026-02 holds an order number with a quote, one with 'Ü' and a credit line,
    no-part lines and an order to a vendor that is inactive in ServiceTitan."""
    result = materialize(period="2026-02-01")
    assert not result.success
    headers, lines = ifs_period_pos("2026-02-01")
    failed = {f.source_key: f for f in state_store().failed(connection="sandbox")}
    synced = st_pos_by_order()
    syncable = {k for k, h in headers.items() if h["Objstate"] in SYNCABLE}
    assert set(failed) | set(synced) == syncable and not set(failed) & set(synced)
    assert "PO-O'NEIL-7" in synced
    assert failed["PO-Ü-12"].reason == "validation"
    assert "PO 'PO-Ü-12' line 2/1: BuyUnitPrice" in failed["PO-Ü-12"].message
    for key, record in failed.items():
        assert key in record.message
        if any(not ln["PartNo"] for ln in lines[key]):
            assert "PartNo is empty" in record.message


def test_no_secret_reaches_the_event_log_audit_log_or_failed_records(
    sandbox_connection: dict, db_env: str, capfd: pytest.CaptureFixture[str]
) -> None:
    ifs, st = sandbox_connection["ifs"], sandbox_connection["servicetitan"]
    secrets = [ifs["client_secret"], st["client_secret"], st["app_key"], st["webhook_key"]]
    ifs_client, st_client = clients()
    result = materialize(period="2026-02-01")  # writes, and fails some records
    tokens = [ifs_client.transport.tokens.token(), st_client.transport.tokens.token()]
    events = "\n".join(repr(e) for e in result.all_events)
    with Store(db_env).cursor() as cur:
        cur.execute("SELECT row_to_json(a)::text FROM connector.audit_log a")
        audit = "\n".join(r[0] for r in cur.fetchall())
        cur.execute("SELECT row_to_json(f)::text FROM connector.failed_records f")
        failed = "\n".join(r[0] for r in cur.fetchall())
    out = capfd.readouterr()
    assert audit and failed and events
    for text in (events, audit, failed, out.out, out.err):
        for secret in [*secrets, *tokens]:
            assert secret not in text


def test_faulty_servicetitan_still_ends_with_exactly_one_po_each(
    sandbox_connection: dict, tmp_path: Path
) -> None:
    """10% 429, 5% 500, 2% resets, 1% timeouts on every ServiceTitan call: each PO
    ends synced or classified, and once the faults stop, a re-run completes the
    period with no duplicate."""
    path = Path(os.environ["CONNECTOR_CONNECTIONS_FILE"])
    path.write_text(path.read_text() + "      timeout_s: 1\n")  # under servicetitan:
    st_base = sandbox_connection["servicetitan"]["api_url"]
    profile = {"rate_429": 0.10, "rate_500": 0.05, "rate_reset": 0.02, "rate_timeout": 0.01,
               "timeout_s": 2, "retry_after_s": 1, "seed": 11}  # fmt: skip
    httpx.put(f"{st_base}/_sandbox/faults", json=profile, timeout=10).raise_for_status()
    result = materialize()
    httpx.put(f"{st_base}/_sandbox/faults", json={}, timeout=10).raise_for_status()
    faults_seen = sum(
        r["count"]
        for r in httpx.get(f"{st_base}/_sandbox/requests", timeout=10).json()
        if r["status"] in (0, 429, 500)
    )
    assert faults_seen > 0
    store = state_store()
    failed = store.failed(connection="sandbox")
    assert result.success == (failed == [])
    assert all(f.reason == "transient_exhausted" for f in failed)

    assert materialize().success
    headers, _ = ifs_period_pos()
    syncable = {k for k, h in headers.items() if h["Objstate"] in SYNCABLE}
    pos = st_pos_by_order()
    assert set(pos) == syncable
    assert all(len(copies) == 1 for copies in pos.values())


def test_po_cancelled_in_ifs_after_a_crash_mid_create_is_found_and_cancelled(
    sandbox_connection: dict, db_env: str
) -> None:
    proc = support.crash(CRASH_SCRIPT)
    key, target_id = proc.stdout.split()
    edit_po(sandbox_connection, key, Objstate="Cancelled")
    assert materialize().success
    [po] = st_pos_by_order()[key]
    assert (str(po["id"]), po["status"]) == (target_id, "Canceled")
