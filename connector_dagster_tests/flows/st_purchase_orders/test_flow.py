"""Flow F5 end to end: purchase orders raised in ServiceTitan into IFS, over real HTTP
against the sandbox and a real PostgreSQL, compared through both APIs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import dagster as dg
import httpx

from connector_dagster.defs.st_purchase_orders.spec import SPEC
from connector_dagster.engine.session import Session
from connector_dagster.kits.purchase_orders.provenance import made_from_ifs as from_ifs
from connector_dagster.kits.purchase_orders.provenance import raised_in_servicetitan
from connector_dagster.lib.store import Store
from connector_dagster.systems.ifs import odata
from connector_dagster_tests.flows import support

PERIOD = "2026-10-01"
SYNCABLE = {"Sent", "PartiallyReceived", "Received", "Exported"}
HEADERS = "PurchaseOrderHandling.svc/PurchaseOrderSet"
LINES = "entity/v1/PurchaseOrderLineEntity.svc/PurchaseOrderLineSet"


def defs() -> dg.Definitions:
    return support.defs(SPEC.name)


def materialize(selection: str = "*", period: str = PERIOD) -> dg.ExecuteInProcessResult:
    return support.materialize(SPEC.name, period, None if selection == "*" else selection)


def state_store() -> Store:
    return Store(os.environ["CONNECTOR_DATABASE_URL"])


def failed(flow: str = "st_purchase_orders") -> dict[str, object]:
    store = state_store()
    try:
        return {f.source_key: f for f in store.failed(connection="sandbox", flow=flow)}
    finally:
        store.close()


def bounds(period: str) -> tuple[date, date]:
    start = date.fromisoformat(period)
    return start, date(start.year + (start.month == 12), start.month % 12 + 1, 1)


def st_raised(period: str = PERIOD) -> dict[str, dict]:
    """The period's ServiceTitan POs not created by F1, by number."""
    start, end = bounds(period)
    with Session.open("sandbox") as session:
        return {
            po["number"]: po
            for po in session.servicetitan.iter_pages("inventory", "purchase-orders", {})
            if start.isoformat() <= po["date"][:10] < end.isoformat()
            and not from_ifs(po.get("summary"))
        }


def ifs_raised() -> tuple[dict[str, list[dict]], dict[str, list[dict]]]:
    """IFS POs carrying the sandbox connection's F5 marker, by ServiceTitan number, and
    the active lines of each (by OrderNo), in line order."""
    with Session.open("sandbox") as session:
        headers: dict[str, list[dict]] = {}
        for row in session.ifs.query(HEADERS, filter=odata.startswith("Reference", "ST PO "),
                                  keys=("OrderNo",)):  # fmt: skip
            marked = raised_in_servicetitan(row.get("Reference"))
            if marked and marked[1] == "sandbox":
                headers.setdefault(marked[0], []).append(dict(row))
        lines: dict[str, list[dict]] = {}
        for copies in headers.values():
            for header in copies:
                rows = session.ifs.query(LINES, filter=odata.eq("OrderNo", header["OrderNo"]),
                                      keys=("OrderNo", "LineNo", "ReleaseNo"))  # fmt: skip
                lines[header["OrderNo"]] = sorted(
                    (dict(r) for r in rows if r.get("Objstate") != "Cancelled"),
                    key=lambda r: int(r["LineNo"]),
                )
    return headers, lines


def counts(base: str) -> Counter:
    rows = httpx.get(f"{base}/_sandbox/requests", timeout=10).json()
    return Counter({(r["method"], r["route"]): r["count"] for r in rows})


def writes(base: str) -> Counter:
    """Requests that change the target: a token request (a POST to the auth endpoint,
    made whenever a token lapses on a slow machine) is not one."""
    return Counter(
        {
            k: n
            for k, n in counts(base).items()
            if k[0] in ("POST", "PATCH", "DELETE") and "token" not in k[1]
        }
    )


def clear_counts(*bases: str) -> None:
    for base in bases:
        httpx.delete(f"{base}/_sandbox/requests", timeout=10).raise_for_status()


def assert_same_pos(st: dict[str, dict], syncable: set[str]) -> None:
    """Of the ServiceTitan POs `st` (one period's), IFS holds exactly one PO per syncable
    one and none for the others, with equal lines (part mapped from the SKU),
    quantities and costs, supplier and date."""
    with Session.open("sandbox") as session:
        maps = session.mappings()
    parts = {sku: part for part, sku in maps.table("parts").items()}
    suppliers = {vid: vno for vno, vid in maps.table("vendors").items()}
    headers, lines = ifs_raised()
    assert {n for n in headers if n in st} == syncable
    for number in syncable:
        [header] = headers[number]
        po = st[number]
        assert header["VendorNo"] == suppliers[po["vendorId"]]
        assert header["OrderDate"] == po["date"][:10]
        assert header["Company"] == "ACME01"
        items = sorted(po["items"], key=lambda i: i["id"])
        ifs_lines = lines[header["OrderNo"]]
        assert [(parts[i["skuId"]], Decimal(str(i["quantity"])), Decimal(str(i["cost"])))
                for i in items] == [
            (ln["PartNo"], Decimal(str(ln["BuyQtyDue"])), Decimal(str(ln["BuyUnitPrice"])))
            for ln in ifs_lines
        ]  # fmt: skip


def test_period_is_synced_exactly_once_and_a_rerun_sends_no_writes(
    sandbox_connection: dict,
) -> None:
    ifs_base = sandbox_connection["ifs"]["base_url"]
    st_base = sandbox_connection["servicetitan"]["api_url"]
    clear_counts(ifs_base)
    result = materialize()
    assert result.success, result.all_events
    [check] = result.get_asset_check_evaluations()
    assert check.passed
    st = st_raised()
    syncable = {n for n, po in st.items() if po["status"] in SYNCABLE}
    assert syncable and len(syncable) < len(st)  # the period has Pending and Canceled POs
    assert_same_pos(st, syncable)
    first = counts(ifs_base)
    posted = sum(n for (m, r), n in first.items() if m == "POST" and "PurchaseOrderSet" in r)
    assert posted == len(syncable)

    clear_counts(ifs_base, st_base)
    again = materialize()
    assert again.success
    assert writes(ifs_base) == Counter() and writes(st_base) == Counter()
    [write] = written(again)
    assert {k: write.metadata[k].value for k in ("created", "updated", "adopted", "failed")} == {
        "created": 0, "updated": 0, "adopted": 0, "failed": 0
    }  # fmt: skip


def written(result: dg.ExecuteInProcessResult) -> list[dg.AssetMaterialization]:
    """The write asset's materializations of a run (its graph also materializes the read)."""
    return [
        m
        for m in result.asset_materializations_for_node("sandbox__ifs_purchase_orders_raised")
        if m.asset_key.path[-1] == "ifs_purchase_orders_raised"
    ]


def test_dagster_cli_materializes_the_partition(sandbox_connection: dict, tmp_path: Path) -> None:
    """The README's command, as printed."""
    dagster = Path(sys.executable).parent / "dagster"
    selection = "sandbox/servicetitan_purchase_orders_raised,sandbox/ifs_purchase_orders_raised"
    proc = subprocess.run(
        [str(dagster), "asset", "materialize", "-m", "connector_dagster.definitions",
         "--select", selection, "--partition", PERIOD],
        cwd=tmp_path, env=dict(os.environ), capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    st = st_raised()
    assert_same_pos(st, {n for n, po in st.items() if po["status"] in SYNCABLE})


def test_without_manual_numbering_ifs_numbers_the_pos_and_the_marker_finds_them(
    sandbox_connection: dict, db_env: str
) -> None:
    """A tenant that numbers POs from its own series: IFS gives each PO its number, and
    the marker alone finds them again (here after the ledger is lost: adopted, none
    created twice)."""
    path = Path(os.environ["CONNECTOR_CONNECTIONS_FILE"])
    path.write_text(path.read_text().replace("{manual_order_no: true}", "{}"))
    ifs_base = sandbox_connection["ifs"]["base_url"]
    behaviour = f"{ifs_base}/_sandbox/behaviour"
    httpx.put(behaviour, json={"po_manual_numbering": False}, timeout=10).raise_for_status()
    try:
        assert materialize().success
        st = st_raised()
        syncable = {n for n, po in st.items() if po["status"] in SYNCABLE}
        assert_same_pos(st, syncable)
        headers, _ = ifs_raised()
        assert all(h["OrderNo"].isdigit() and int(h["OrderNo"]) > 1000000
                   for n in syncable for h in headers[n])  # fmt: skip
        store = Store(db_env)
        with store.cursor() as cur:
            cur.execute("DELETE FROM connector.sync_ledger WHERE flow = 'st_purchase_orders'")
        store.close()
        clear_counts(ifs_base)
        again = materialize()
    finally:  # the simulator keeps its switches across resets
        httpx.put(behaviour, json={"po_manual_numbering": True}, timeout=10).raise_for_status()
    assert again.success and writes(ifs_base) == Counter()
    [write] = written(again)
    assert write.metadata["adopted"].value == len(syncable)
