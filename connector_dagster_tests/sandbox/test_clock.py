"""The sandbox's clock: no record of either simulator, read over their APIs
(ServiceTitan's export feeds included), is dated after it; it is the real time
unless set; the seed stays deterministic for a given seed and clock."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx

from connector_dagster.sandbox import world
from connector_dagster.sandbox.config import SandboxConfig
from connector_dagster.sandbox.faults import FaultProfile
from connector_dagster.sandbox.ifs import app as ifs
from connector_dagster.sandbox.ifs import seed as ifs_seed
from connector_dagster.sandbox.ifs.schema import OBJVERSION_FORMAT, SERVICES, SETS
from connector_dagster.sandbox.server import running
from connector_dagster.sandbox.servicetitan import seed as st_seed
from connector_dagster.sandbox.servicetitan.app import served_routes
from connector_dagster.sandbox.servicetitan.store import Store
from connector_dagster_tests.sandbox.ifs.support import Ifs, iter_pages, make_config
from connector_dagster_tests.sandbox.servicetitan.support import StSandbox, st_sandbox

CLOCK = "2026-06-15T12:00:00Z"
# Dates that are plans, not events: an order wants its goods, a bill falls due, later.
PLANS = frozenset({"dueDate", "requiredOn", "WantedReceiptDate", "WantedDeliveryDate"})
_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?"
)

Record = tuple[str, dict[str, Any]]  # (where it was read, the record)


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _dates(node: Any, key: str = "") -> Iterator[tuple[str, datetime]]:
    """Every (field, instant) in a JSON value: timestamps, dates and IFS Objversions."""
    if isinstance(node, dict):
        for name, value in node.items():
            yield from _dates(value, name)
    elif isinstance(node, list):
        for value in node:
            yield from _dates(value, key)
    elif isinstance(node, str) and key == "Objversion":
        yield key, datetime.strptime(node, OBJVERSION_FORMAT).replace(tzinfo=UTC)
    elif isinstance(node, str) and _DATE.fullmatch(node):
        yield key, _instant(node)


def _after(records: list[Record], clock: datetime) -> list[str]:
    return [
        f"{where}: {name} {value.isoformat()}"
        for where, record in records
        for name, value in _dates(record)
        if name not in PLANS and value > clock
    ]


def _ifs_records(client: Ifs) -> list[Record]:
    """Every row of every projection's entity sets, read page by page over OData."""
    records = []
    for (kind, name), service in SERVICES.items():
        if kind != "projection":
            continue
        for eset in service.sets:
            path = f"/int/ifsapplications/projection/v1/{name}.svc/{eset.name}"
            records += [(eset.name, row) for row in iter_pages(client, path)]
    return records


def _st_records(st: StSandbox) -> list[Record]:
    """Every record of every list and export endpoint; feeds followed to their end."""
    records = []
    for method, template in served_routes():
        module, rest = template.split("/")[1], template.split("/tenant/{tenant}/")[1]
        if method != "GET" or "{" in rest:
            continue
        if rest.startswith("export/"):
            feed = st.ok("GET", module, rest)
            rows = feed["data"]
            while feed["hasMore"]:
                feed = st.ok("GET", module, rest, params={"from": feed["continueFrom"]})
                rows += feed["data"]
        else:
            body = st.ok("GET", module, rest, params={"pageSize": 5000, "activeState": "All"})
            assert isinstance(body, list) or not body["hasMore"], rest
            rows = body if isinstance(body, list) else body["data"]
        records += [(f"{module}/{rest}", row) for row in rows]
    return records


@contextmanager
def _both(now: str | None) -> Iterator[tuple[Ifs, StSandbox]]:
    # Unlimited IFS rate: reading every set (the History Log too) takes many pages.
    app = ifs.create_app(make_config(now=now, ifs_rate_per_min=0), FaultProfile())
    with (
        running(app) as url,
        httpx.Client(base_url=url, timeout=30) as http,
        st_sandbox(now=now) as st,
    ):
        yield Ifs(http), st


def test_no_record_of_either_simulator_is_dated_after_a_set_clock() -> None:
    clock = _instant(CLOCK)

    with _both(CLOCK) as (ifs_client, st):
        ifs_records, st_records = _ifs_records(ifs_client), _st_records(st)
        seeded_as_of = {
            ifs_client.http.get("/_sandbox/state").json()["seededAsOf"],
            st.control("GET", "state")["seededAsOf"],
        }

    assert _after(ifs_records + st_records, clock) == []
    assert seeded_as_of == {clock.isoformat()}
    orders = [row["OrderDate"] for where, row in ifs_records if where == "PurchaseOrderSet"]
    invoices = [row["invoiceDate"] for where, row in st_records if where == "accounting/invoices"]
    assert max(orders).startswith("2026-06") and max(invoices).startswith("2026-06")


def test_the_clock_is_the_real_time_by_default_and_nothing_is_modified_in_the_future() -> None:
    started = datetime.now(UTC)

    with _both(None) as (ifs_client, st):
        records = _ifs_records(ifs_client) + _st_records(st)
        seeded_as_of = st.control("GET", "state")["seededAsOf"]
        read = datetime.now(UTC)

    assert _after(records, read) == []
    assert started <= datetime.fromisoformat(seeded_as_of) <= read
    modified = [
        value for _, record in records for name, value in _dates(record) if name == "modifiedOn"
    ]
    assert modified and max(modified) <= read


def test_a_clock_after_the_window_seeds_the_whole_window_unchanged() -> None:
    settled = SandboxConfig(now=world.WINDOW_SETTLED).seeded_as_of()

    assert ifs_seed.generate(42, 1, settled) == ifs_seed.generate(42, 1)
    assert st_seed.build(42, 1, 1, settled).tables == st_seed.build(42, 1, 1).tables


def test_the_same_seed_and_clock_give_the_same_records() -> None:
    june = _instant(CLOCK)

    assert ifs_seed.generate(42, 1, june) == ifs_seed.generate(42, 1, june)
    assert st_seed.build(42, 1, 1, june).tables == st_seed.build(42, 1, 1, june).tables


def _period(rows: list[tuple], field: str, period: str) -> list[tuple]:
    """IFS header rows whose `field` date lies in `period` (YYYY-MM)."""
    index = SETS["PurchaseOrderSet" if field == "OrderDate" else "PostingProposalSet"].index
    return [row for row in rows if row[index[field]].startswith(period)]


def test_a_period_settled_before_the_clock_is_seeded_the_same_whatever_the_clock() -> None:
    june, whole = _instant(CLOCK), SandboxConfig(now=world.WINDOW_SETTLED).seeded_as_of()
    ifs_june, ifs_whole = ifs_seed.generate(42, 1, june), ifs_seed.generate(42, 1, whole)
    st_june, st_whole = st_seed.build(42, 1, 1, june), st_seed.build(42, 1, 1, whole)

    for set_name, field in (
        ("PurchaseOrderSet", "OrderDate"),
        ("PostingProposalSet", "VoucherDate"),
    ):
        february = _period(ifs_june[set_name], field, "2026-02")
        assert february and february == _period(ifs_whole[set_name], field, "2026-02")
    for table, field in (("invoices", "invoiceDate"), ("purchase-orders", "date")):
        february = [_without_version(r) for r in _st_period(st_june, table, field)]
        assert february and february == [
            _without_version(r) for r in _st_period(st_whole, table, field)
        ]


def _st_period(store: Store, table: str, field: str) -> list[dict[str, Any]]:
    start, end = _instant("2026-02-01"), _instant("2026-03-01")
    return [
        row
        for row in store.tables[table].values()
        if start <= datetime.fromtimestamp(row[field] / 1e6, UTC) < end
    ]


def _without_version(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row without its change-log version, which counts every table's rows."""
    return {k: v for k, v in row.items() if k != "_v"}
