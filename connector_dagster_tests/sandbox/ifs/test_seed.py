"""The IFS simulator's seed: deterministic, scaled, realistic and quick to build."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from connector_dagster.sandbox import world
from connector_dagster.sandbox.faults import FaultProfile
from connector_dagster.sandbox.ifs import app as ifs
from connector_dagster.sandbox.ifs import seed as ifs_seed
from connector_dagster.sandbox.ifs.schema import SETS
from connector_dagster.sandbox.server import running
from connector_dagster_tests.sandbox.ifs.support import PO, RELEASED, Ifs, iter_pages, make_config


@pytest.fixture(scope="module")
def client() -> Iterator[Ifs]:
    with (
        running(ifs.create_app(make_config(), FaultProfile())) as url,
        httpx.Client(base_url=url, timeout=10) as http,
    ):
        yield Ifs(http)


def test_same_seed_and_scale_give_the_same_rows() -> None:
    assert ifs_seed.generate(42, 1) == ifs_seed.generate(42, 1)
    assert ifs_seed.generate(42, 1) != ifs_seed.generate(43, 1)


def test_scale_multiplies_the_volume() -> None:
    one = sum(map(len, ifs_seed.generate(42, 1).values()))
    three = sum(map(len, ifs_seed.generate(42, 3).values()))
    assert 2.7 < three / one < 3.3


def test_a_period_can_hold_many_more_orders_than_the_scale_gives() -> None:
    def by_month(rows: dict) -> Counter[str]:
        return Counter(r[2][:7] for r in rows["PurchaseOrderSet"])

    usual = ifs_seed.generate(42, 1)
    dense = ifs_seed.generate(42, 1, period_orders={(2026, 3): 2500})
    assert by_month(dense)["2026-03"] == 2500
    before = {m: n for m, n in by_month(usual).items() if m < "2026-03"}
    assert {m: n for m, n in by_month(dense).items() if m < "2026-03"} == before
    lines = Counter(r[0] for r in dense["PurchaseOrderLineSet"])
    march = [r[0] for r in dense["PurchaseOrderSet"] if r[2].startswith("2026-03")]
    assert all(lines[order_no] >= 1 for order_no in march)


@pytest.mark.slow
def test_scale_100_gives_over_100k_records() -> None:
    rows = ifs_seed.generate(42, 100)
    assert sum(map(len, rows.values())) >= 100_000


def test_about_40_orders_a_month_mostly_released_or_confirmed(client: Ifs) -> None:
    orders = client.raw("PurchaseOrderSet")
    per_month = Counter(o["OrderDate"][:7] for o in orders)
    assert sorted(per_month) == [f"{y}-{m:02d}" for y, m in ifs_seed.months()]
    assert all(30 <= n <= 50 for n in per_month.values())
    states = Counter(o["Objstate"] for o in orders)
    assert set(states) == set(world.PO_STATES)
    assert (states["Released"] + states["Confirmed"]) / len(orders) > 0.5


def test_released_orders_of_a_period_can_be_polled(client: Ifs) -> None:
    path = (
        f"{PO}/PurchaseOrderSet?$filter=Objstate eq {RELEASED} "
        "and OrderDate ge 2026-10-01 and OrderDate le 2026-10-31&$orderby=OrderNo"
    )
    polled = [o["OrderNo"] for o in iter_pages(client, path)]
    raw = client.raw("PurchaseOrderSet")
    expected = sorted(
        o["OrderNo"]
        for o in raw
        if o["Objstate"] == "Released" and o["OrderDate"].startswith("2026-10")
    )
    assert polled == expected and polled


def test_orders_have_one_to_six_lines_on_the_orders_site(client: Ifs) -> None:
    orders = {o["OrderNo"]: o for o in client.raw("PurchaseOrderSet")}
    lines = client.raw("PurchaseOrderLineSet")
    per_order = Counter(line["OrderNo"] for line in lines)
    assert set(per_order) == set(orders)
    assert set(per_order.values()) <= set(range(1, 7))
    assert all(line["Contract"] == orders[line["OrderNo"]]["Contract"] for line in lines)


def test_seed_holds_the_awkward_cases(client: Ifs) -> None:
    orders = {o["OrderNo"]: o for o in client.raw("PurchaseOrderSet")}
    assert {ifs_seed.QUOTE_ORDER_NO, ifs_seed.UNICODE_ORDER_NO} <= set(orders)
    inactive = {v.ifs_vendor_no for v in world.VENDORS if not v.active}
    assert any(o["VendorNo"] in inactive for o in orders.values())
    lines = client.raw("PurchaseOrderLineSet")
    assert any(line["PartNo"] is None for line in lines)
    assert any(line["BuyUnitPrice"] == 0 for line in lines)
    assert any(line["BuyUnitPrice"] < 0 and line["NetAmtCurr"] < 0 for line in lines)
    assert all(o["OrderNo"].startswith("PO-") for o in orders.values())


def test_proposal_lines_use_world_accounts_cost_centres_and_vendors(client: Ifs) -> None:
    lines = client.raw("PostingProposalLineSet")
    assert {line["Account"] for line in lines} <= {a.ifs_account for a in world.GL_ACCOUNTS}
    assert {line["CodeB"] for line in lines} <= {r.cost_centre for r in world.REGIONS}
    assert {line["PartyTypeId"] for line in lines} <= {v.ifs_vendor_no for v in world.VENDORS}
    per_month = Counter(p["VoucherDate"][:7] for p in client.raw("PostingProposalSet"))
    assert all(20 <= n <= 40 for n in per_month.values())


def test_every_seeded_row_has_a_distinct_rowid() -> None:
    rows = ifs_seed.generate(42, 1)
    ids = [row[SETS[name].index["Objid"]] for name, set_rows in rows.items() for row in set_rows]
    assert len(ids) == len(set(ids))
