"""The IFS simulator looks rows up by key, index and date instead of scanning: the rows
a filter names are exactly those a scan finds, and a query paged while the table
changes sees the change."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from connector_dagster.sandbox.ifs import seed
from connector_dagster.sandbox.ifs.odata_filter import parse_filter
from connector_dagster.sandbox.ifs.schema import PURCHASE_ORDER_LINES, PURCHASE_ORDERS, SETS
from connector_dagster.sandbox.ifs.table import Table
from connector_dagster_tests.sandbox.ifs.support import PO, Ifs, fresh, simulator

FILTERS = {
    PURCHASE_ORDERS: [
        "OrderDate ge 2026-10-01 and OrderDate lt 2026-11-01",
        "Company eq 'ACME01' and OrderDate ge 2026-10-01 and OrderDate lt 2026-11-01",
        "OrderDate gt 2026-10-31 and OrderDate le 2026-11-02",
        "2026-10-05 ge OrderDate and OrderDate ge 2026-10-01",
        "OrderDate ge 2026-10-01 and OrderDate lt 2026-10-01",
        "OrderDate ge 2026-10-01 or OrderDate lt 2025-11-01",
        "not (OrderDate ge 2025-11-01)",
        "OrderNo eq 'PO-2026-00042' or OrderNo eq 'PO-2026-00007' or OrderNo eq 'nope'",
        "(OrderNo eq 'PO-2026-00042' or OrderNo eq 'PO-2026-00007') and OrderNo eq 'PO-2026-00007'",
        "OrderNo eq 'PO-2026-00042' or VendorNo eq 'V1001'",
        "(OrderNo eq 'PO-2026-00042' or OrderNo eq 'PO-2025-00011') and OrderDate ge 2026-01-01",
        "Reference eq null and OrderDate ge 2026-12-01",
        "OrderDate eq 2026-10-12",
    ],
    PURCHASE_ORDER_LINES: [
        "OrderNo eq 'PO-2026-00042' or OrderNo eq 'PO-2026-00043'",
        "(OrderNo eq 'PO-2026-00042' or OrderNo eq 'PO-2026-00043') and LineNo eq '1'",
        "OrderNo eq 'PO-2026-00042' and LineNo eq '2' and ReleaseNo eq '1'",
        "(OrderNo eq 'PO-2026-00042' or OrderNo eq 'PO-2026-00043') and "
        "(LineNo eq '1' or LineNo eq '2') and ReleaseNo eq '1'",
    ],
}


@pytest.fixture(scope="module")
def tables() -> dict[str, Table]:
    rows = seed.generate(42, 2)
    return {name: Table(SETS[name], rows.get(name, ())) for name in SETS}


@pytest.mark.parametrize(
    ("eset", "text"), [(eset, text) for eset, texts in FILTERS.items() for text in texts]
)
def test_a_filter_names_the_rows_a_scan_finds(
    tables: dict[str, Table], eset: object, text: str
) -> None:
    table = tables[eset.name]  # type: ignore[attr-defined]
    flt = parse_filter(text, table.eset.entity_type("IfsApp"))
    scanned = [r for r in table.rows.values() if flt.predicate(r)]
    named = list(table.candidates(flt.equalities, flt.any_of, flt.ranges))
    found = [r for r in named if flt.predicate(r)]

    assert sorted(found) == sorted(scanned)
    assert len(set(named)) == len(named)


def test_a_range_or_a_set_of_keys_names_only_its_rows(tables: dict[str, Table]) -> None:
    orders = tables[PURCHASE_ORDERS.name]
    etype = orders.eset.entity_type("IfsApp")
    period = parse_filter("OrderDate ge 2026-10-01 and OrderDate lt 2026-11-01", etype)
    keys = parse_filter("OrderNo eq 'PO-2026-00042' or OrderNo eq 'PO-2026-00007'", etype)

    in_period = list(orders.candidates(period.equalities, period.any_of, period.ranges))
    assert 0 < len(in_period) < len(orders.rows) / 10
    assert len(list(orders.candidates(keys.equalities, keys.any_of, keys.ranges))) == 2


def test_a_changed_row_moves_in_the_date_index(tables: dict[str, Table]) -> None:
    orders = Table(PURCHASE_ORDERS, tables[PURCHASE_ORDERS.name].rows.values())
    etype = orders.eset.entity_type("IfsApp")
    later = parse_filter("OrderDate ge 2030-01-01", etype)
    row = next(iter(orders.rows.values()))
    i = PURCHASE_ORDERS.index["OrderDate"]
    moved = (*row[:i], "2030-01-02", *row[i + 1 :])

    orders.put(moved, row)
    assert list(orders.candidates({}, None, later.ranges)) == [moved]
    orders.restore(PURCHASE_ORDERS.key_of(row), row)
    assert list(orders.candidates({}, None, later.ranges)) == []


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with simulator() as http:
        yield http


@pytest.fixture
def client(http: httpx.Client) -> Ifs:
    return fresh(http)


def test_pages_of_a_sorted_query_see_a_change_made_between_them(client: Ifs) -> None:
    query = (
        f"{PO}/PurchaseOrderSet?$filter=OrderDate ge 2026-01-01 and OrderDate lt 2026-07-01"
        "&$orderby=OrderNo&$select=OrderNo,Reference&$top=2&$skip={skip}"
    )
    first = client.rows(query.format(skip=0))
    renamed = first[1]["OrderNo"]
    path = f"{PO}/PurchaseOrderSet(OrderNo='{renamed}')"
    etag = client.get(path).headers["etag"]
    answer = client.send("PATCH", path, {"Reference": "CHANGED"}, **{"If-Match": etag})
    assert answer.status_code in (200, 204), answer.text

    again = client.rows(query.format(skip=0))
    assert [r["OrderNo"] for r in again] == [r["OrderNo"] for r in first]
    assert again[1]["Reference"] == "CHANGED"
    assert client.rows(query.format(skip=2))[0]["OrderNo"] > renamed
