"""The AP and inventory variance of a sandbox period after F5 has brought ServiceTitan's
POs into IFS: its totals are what the test reads itself from both simulators' APIs
(plain httpx), a bill keyed in with another quantity and cost shows on its PO line,
every bill without a PO is listed, and the CLI and the asset give the same report."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
import yaml

from connector_dagster.cli import main
from connector_dagster.defs.operations.variance import build
from connector_dagster.defs.resources import build_resources
from connector_dagster.engine import registry
from connector_dagster.engine.records import Period
from connector_dagster.engine.session import Session
from connector_dagster.kits.variance import variance
from connector_dagster.kits.variance.report import VarianceReport
from connector_dagster.lib.settings import PROJECT_ROOT
from connector_dagster_tests.flows.support import write_in_process

PERIOD = "2026-10-01"
ST_PO_FLOW = "st_purchase_orders"
PO_HEADERS = "/int/ifsapplications/projection/v1/PurchaseOrderHandling.svc/PurchaseOrderSet"
PO_LINES = "/int/ifsapplications/entity/v1/PurchaseOrderLineEntity.svc/PurchaseOrderLineSet"
RECEIVED_IN_IFS = ("Arrived", "Received", "Closed")


def _json(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return json.loads(response.text, parse_float=Decimal)


class StApi:
    """ServiceTitan's API as any integration reads it: a token, the app key, pages."""

    def __init__(self, st: dict) -> None:
        token = httpx.post(
            st["auth_url"],
            data={"grant_type": "client_credentials", "client_id": st["client_id"],
                  "client_secret": st["client_secret"]},
            timeout=10,
        ).json()["access_token"]  # fmt: skip
        self.base = f"{st['api_url']}/accounting/v2/tenant/{st['tenant_id']}"
        self.headers = {"Authorization": f"Bearer {token}", "ST-App-Key": st["app_key"]}

    def bills(self, bill_type: str) -> list[dict[str, Any]]:
        rows, page = [], 1
        while True:
            body = _json(
                httpx.get(
                    f"{self.base}/ap-bills",
                    params={"billType": bill_type, "dateFrom": "2026-10-01T00:00:00Z",
                            "dateTo": "2026-10-31T00:00:00Z", "page": page, "pageSize": 50},
                    headers=self.headers, timeout=10,
                )
            )  # fmt: skip
            rows += body["data"]
            if not body["hasMore"]:
                return rows
            page += 1


class IfsApi:
    """IFS's OData API with a bearer token, paged by `@odata.nextLink`."""

    def __init__(self, ifs: dict) -> None:
        token = httpx.post(
            ifs["token_url"],
            data={"grant_type": "client_credentials", "client_id": ifs["client_id"],
                  "client_secret": ifs["client_secret"]},
            timeout=10,
        ).json()["access_token"]  # fmt: skip
        self.base = ifs["base_url"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def rows(self, path: str, query: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        url: str | None = f"{self.base}{path}?{query}"
        while url:
            body = _json(httpx.get(url, headers=self.headers, timeout=10))
            rows += body["value"]
            url = body.get("@odata.nextLink")
        return rows

    def period_orders(self) -> list[dict[str, Any]]:
        orders = self.rows(
            PO_HEADERS,
            "$filter=Company eq 'ACME01' and OrderDate ge 2026-10-01 and OrderDate lt 2026-11-01",
        )
        for order in orders:
            no = order["OrderNo"].replace("'", "''")
            order["lines"] = self.rows(PO_LINES, f"$filter=OrderNo eq '{no}'")
        return orders


def amount(order: dict[str, Any]) -> Decimal:
    return sum(
        (
            Decimal(str(ln["BuyQtyDue"])) * Decimal(str(ln["BuyUnitPrice"]))
            for ln in order["lines"]
            if ln["Objstate"] != "Cancelled"
        ),
        Decimal(0),
    )


def report() -> VarianceReport:
    with Session.open("sandbox") as session:
        return variance(session, Period.parse(PERIOD))


@pytest.fixture
def synced(sandbox_connection: dict) -> dict:
    """The sandbox with F5 run for the period: ServiceTitan's POs have IFS POs."""
    counts = write_in_process(ST_PO_FLOW, PERIOD)
    assert counts.get("created", 0) > 0, counts
    return sandbox_connection


def test_the_totals_are_what_both_apis_hold_for_the_period(synced: dict) -> None:
    result = report()

    st = StApi(synced["servicetitan"])
    bills = [b for t in ("ApBill", "Procurement") for b in st.bills(t) if b["status"] != "Canceled"]
    orders = IfsApi(synced["ifs"]).period_orders()
    live = [o for o in orders if o["Objstate"] != "Cancelled"]
    t = result.totals
    assert t["bills"] == len(bills) > 0
    assert t["bill_amount"] == sum(Decimal(b["billAmount"]) for b in bills)
    assert t["tax"] == sum(Decimal(b["taxAmount"]) for b in bills)
    assert t["shipping"] == sum(Decimal(b["shippingAmount"]) for b in bills)
    assert t["bill_total"] == sum(Decimal(b["vendorInvoiceTotal"]) for b in bills)
    assert t["ifs_orders"] == len(live) > 0
    assert t["ifs_ordered"] == sum(amount(o) for o in live)
    assert result.ties and t["untied"] == 0
    assert t["bills_on_ifs_pos"] > 0
    assert t["billed_on_ifs_pos"] - t["po_amount_billed"] == (
        t["quantity_variance"] + t["price_variance"]
    )
    # ServiceTitan received and billed what F5 ordered in IFS: no variance yet.
    assert result.variances() == []
    by_kind = {k: sum(1 for b in result.without_po + result.po_not_in_ifs if b.bill.startswith(k))
               for k in ("ap-", "inventory-")}  # fmt: skip
    assert t["bills_on_ifs_pos"] + sum(by_kind.values()) == t["bills"]
    # Received in IFS, never in ServiceTitan (F1 has not run), billed nowhere.
    received = {
        o["OrderNo"]
        for o in live
        if o["Objstate"] in RECEIVED_IN_IFS and "ST PO " not in (o["Reference"] or "") and amount(o)
    }
    assert {u.order_no for u in result.received_not_billed} == received != set()
    assert t["received_not_billed_amount"] == sum(
        amount(o) for o in live if o["OrderNo"] in received
    )


def test_every_bill_without_a_po_is_listed(synced: dict) -> None:
    result = report()

    st = StApi(synced["servicetitan"])
    without = {
        f"ap-{b['id']}": Decimal(b["vendorInvoiceTotal"])
        for b in st.bills("ApBill")
        if b["purchaseOrderId"] is None and b["status"] != "Canceled"
    }
    assert without
    assert {b.bill: b.total for b in result.without_po} == without
    assert result.totals["without_po_total"] == sum(without.values())
    vendors = {b.vendor for b in result.without_po}
    assert all(v.startswith("V") for v in vendors), vendors  # the IFS supplier, mapped back


def test_a_planted_quantity_and_price_show_on_the_right_line(synced: dict) -> None:
    before = report()
    row = next(r for r in before.lines if r.line and r.bills and r.bills[0].startswith("inv"))
    [bill_key] = row.bills
    bill_id = bill_key.split("-")[1]
    parts = yaml.safe_load((PROJECT_ROOT / "connector_dagster/mappings/sandbox.yaml").read_text())
    sku = parts["parts"][row.part]
    st = StApi(synced["servicetitan"])
    bill = _json(httpx.get(f"{st.base}/ap-bills/{bill_id}", headers=st.headers, timeout=10))
    item = next(i for i in bill["items"] if i["skuId"] == sku)
    quantity, cost = Decimal(item["quantity"]), Decimal(item["cost"])
    assert (row.billed, row.po_price) == (quantity, cost) and row.ordered == quantity

    api = synced["servicetitan"]["api_url"]
    planted = httpx.post(
        f"{api}/_sandbox/inventory-bills/{bill_id}/items/{item['order']}",
        json={"quantity": str(quantity + 3), "cost": str(cost + Decimal("1.25"))},
        timeout=10,
    )
    assert planted.status_code == 200, planted.text
    after = report()

    [changed] = after.variances()
    assert (changed.order_no, changed.line, changed.bills) == (row.order_no, row.line, [bill_key])
    assert changed.billed == quantity + 3
    assert changed.quantity_variance == 3 * cost
    assert changed.price_variance == (quantity + 3) * Decimal("1.25")
    grown = (quantity + 3) * (cost + Decimal("1.25")) - quantity * cost
    assert after.totals["bill_amount"] == before.totals["bill_amount"] + grown
    assert after.totals["quantity_variance"] + after.totals["price_variance"] == grown
    assert after.ties
    [group] = [g for g in after.groups if (g.vendor, g.site) == (row.vendor, row.site)]
    assert group.quantity_variance == 3 * cost


def test_the_cli_prints_one_summary_line_and_writes_the_csv(
    synced: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "variance.csv"
    argv = ["variance", "--connection", "sandbox", "--period", "2026-10"]

    assert main([*argv, "--format", "csv", "--output", str(path)]) == 0

    [line] = capsys.readouterr().out.splitlines()
    result = report()
    assert line == f"{result.summary()}; csv written to {path}"
    assert line.startswith("variance sandbox 2026-10: ") and "ties to the bills" in line
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    totals = {r["name"]: r["amount"] for r in rows if r["section"] == "total"}
    assert Decimal(totals["bill_total"]) == result.totals["bill_total"]
    assert Decimal(totals["ifs_ordered"]) == result.totals["ifs_ordered"]
    assert {r["bill"] for r in rows if r["section"] == "without_po"} == {
        b.bill for b in result.without_po
    }
    assert sum(r["section"] == "line" for r in rows) == len(result.lines)

    assert main([*argv]) == 0
    assert capsys.readouterr().out.splitlines()[0] == result.summary()


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--connection", "sandbox", "--period", "2026-13"], "argument --period"),
        (["--connection", "nosuch", "--period", "2026-10"], "unknown connection 'nosuch'"),
        (["--connection", "sandbox", "--period", "2019-01"], "period 2019-01 is outside"),
    ],
)
def test_a_bad_period_or_connection_is_refused_in_one_line(
    sandbox_connection: dict, argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["variance", *argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert named in err.strip().splitlines()[-1]


def test_the_asset_carries_the_figures_and_the_markdown(synced: dict) -> None:
    [asset] = build(registry.connection("sandbox")).assets
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [asset], partition_key=PERIOD, resources=build_resources(), instance=instance
        )
    [mat] = result.get_asset_materialization_events()
    metadata = mat.materialization.metadata
    expected = report()
    assert metadata["bill_total"].value == float(expected.totals["bill_total"])
    assert metadata["without_po"].value == expected.totals["without_po"]
    assert metadata["ties"].value is True
    assert metadata["summary"].value == expected.summary()
    assert expected.summary() in metadata["report"].value


def test_a_po_f1_sent_is_matched_by_its_memo_and_a_partial_receipt_is_not_billed(
    sandbox_connection: dict,
) -> None:
    """F1's POs of 2026-11 in ServiceTitan, received there now: one in full (its inventory
    bill is dated today) is set against its IFS PO line by line in today's period; one in
    part (no bill) is received but not billed there, for what ServiceTitan received,
    though IFS ordered it in an earlier period."""
    counts = write_in_process("purchase_orders", "2026-11-01")
    assert counts.get("created", 0) >= 2, counts
    api = sandbox_connection["servicetitan"]["api_url"]
    pos = [
        p
        for p in httpx.get(f"{api}/_sandbox/entities/purchase-orders", timeout=10).json()
        if "IFS PO " in (p["summary"] or "") and p["date"].startswith("2026-11")
    ]
    received, partial = sorted(pos, key=lambda p: p["id"])[:2]
    for po, status in ((received, "Received"), (partial, "PartiallyReceived")):
        moved = httpx.post(
            f"{api}/_sandbox/purchase-orders/{po['id']}/status", json={"status": status},
            timeout=10,
        )  # fmt: skip
        assert moved.status_code == 200, moved.text
    [bill] = [
        b
        for b in httpx.get(f"{api}/_sandbox/entities/inventory-bills", timeout=10).json()
        if b["purchaseOrderId"] == received["id"]
    ]
    period = Period.parse(bill["billDate"][:7])

    with Session.open("sandbox") as session:
        result = variance(session, period)

    order_no = received["summary"].split("IFS PO ", 1)[1].split(" [", 1)[0]
    rows = [r for r in result.lines if r.order_no == order_no]
    assert len(rows) == len(received["items"]) and all(r.line for r in rows)
    assert all(r.bills == [f"inventory-{bill['id']}"] for r in rows)
    assert all(r.billed == r.ordered == r.received for r in rows)
    assert not any(r.quantity_variance or r.price_variance for r in rows)
    other = partial["summary"].split("IFS PO ", 1)[1].split(" [", 1)[0]
    [unbilled] = [u for u in result.received_not_billed if u.order_no == other]
    half = sum(Decimal(str(i["quantity"])) / 2 * Decimal(str(i["cost"])) for i in partial["items"])
    assert unbilled.amount == half and unbilled.received.startswith(period.key[:7])
