"""ServiceTitan simulator seed: deterministic from seed and scale, counts per
month, ids from `world`, awkward values, and scale 100 (≥ 100,000 records in
under 10 s)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from connector_dagster.sandbox import world
from connector_dagster.sandbox.faults import FaultProfile
from connector_dagster.sandbox.server import SandboxConfig, running
from connector_dagster.sandbox.servicetitan.app import create_app
from connector_dagster_tests.sandbox.servicetitan.support import StSandbox, st_sandbox


@pytest.fixture(scope="module")
def st() -> Iterator[StSandbox]:
    with st_sandbox() as sandbox:
        yield sandbox


def _all(st: StSandbox, module: str, rest: str, **params: object) -> list[dict]:
    return st.ok("GET", module, rest, params={"pageSize": 5000, **params})["data"]


def test_same_seed_same_data_and_another_seed_other_data(st: StSandbox) -> None:
    page = {"pageSize": 20, "activeState": "All"}
    with st_sandbox() as twin, st_sandbox(seed=7) as other:
        mine = st.ok("GET", "accounting", "invoices", params=page)["data"]
        theirs = twin.ok("GET", "accounting", "invoices", params=page)["data"]
        others = other.ok("GET", "accounting", "invoices", params=page)["data"]

    assert mine == theirs
    assert [i["total"] for i in mine] != [i["total"] for i in others]


def test_sixty_invoices_and_twenty_four_pos_per_month(st: StSandbox) -> None:
    invoices = _all(st, "accounting", "invoices", activeState="All")
    pos = _all(st, "inventory", "purchase-orders")
    bills = _all(st, "accounting", "inventory-bills/paginated")
    ap_bills = _all(st, "accounting", "ap-bills", billType="ApBill")

    per_month = Counter(i["invoiceDate"][:7] for i in invoices)
    assert len(per_month) == 15 and set(per_month.values()) == {60}
    assert min(per_month) == world.WINDOW_START[:7] and max(per_month) == world.WINDOW_END[:7]
    assert set(Counter(p["date"][:7] for p in pos).values()) == {24}
    assert len(bills) == 300 and len(ap_bills) == 300
    assert Counter(p["status"] for p in pos)["Canceled"] == 15


def test_native_pos_use_world_ids_and_carry_no_erp_marker(st: StSandbox) -> None:
    pos = _all(st, "inventory", "purchase-orders")
    regions = {r.st_business_unit_id: r for r in world.REGIONS}
    skus = {p.st_sku_id for p in world.PARTS}
    vendors = {v.st_vendor_id for v in world.VENDORS if v.active}

    for po in pos:
        assert po["inventoryLocationId"] == regions[po["businessUnitId"]].st_warehouse_id
        assert po["vendorId"] in vendors
        assert po["typeId"] in dict(world.PO_TYPES)
        assert {i["skuId"] for i in po["items"]} <= skus
        assert "IFS" not in po["summary"] and "ERP" not in po["summary"]


def test_awkward_names_survive_the_round_trip(st: StSandbox) -> None:
    customers = st.control("GET", "entities/customers")
    names = {c["name"] for c in customers}

    assert '"Big Al" Plumbing LLC' in names
    assert any("'" in n for n in names) and any(not n.isascii() for n in names)


def test_journal_entries_one_per_month_balanced(st: StSandbox) -> None:
    entries = _all(st, "accounting", "journal-entries")

    assert len(entries) == 15
    assert [e["number"] for e in entries] == list(range(1001, 1016))


def test_scale_100_serves_over_100k_records() -> None:
    app = create_app(SandboxConfig(scale=100, now=world.WINDOW_SETTLED), FaultProfile())

    with running(app) as base:
        counts = httpx.get(f"{base}/_sandbox/state").json()["counts"]
    assert sum(counts.values()) >= 100_000, counts
    assert counts["invoices"] == 60 * 100 * 15


def test_a_period_can_hold_many_more_invoices_each_with_its_items_and_job() -> None:
    from connector_dagster.sandbox.servicetitan.seed import build

    usual = build(42, 1, 1234567)
    dense = build(42, 1, 1234567, period_invoices={(2026, 3): 2500})

    def by_month(store: object) -> Counter[str]:
        return Counter(
            f"{world_month(r['invoiceDate'])}" for r in store.tables["invoices"].values()
        )

    assert by_month(dense)["2026-03"] == 2500
    assert {m: n for m, n in by_month(dense).items() if m < "2026-03"} == {
        m: n for m, n in by_month(usual).items() if m < "2026-03"
    }
    march = [
        i for i in dense.tables["invoices"].values() if world_month(i["invoiceDate"]) == "2026-03"
    ]
    assert all(i["items"] and i["jobId"] in dense.tables["jobs"] for i in march)


def world_month(us: int) -> str:
    from datetime import UTC, datetime

    return f"{datetime.fromtimestamp(us / 1e6, UTC):%Y-%m}"
