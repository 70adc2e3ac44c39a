"""F4's corrections after close: a GL account mapping corrected after October closed in
IFS moves the October bills' amounts in November, one correction set per bill, each
with its original unchanged; both periods reconcile and a re-run sends nothing. Real
HTTP against the sandbox, a real PostgreSQL."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector_dagster.engine import registry
from connector_dagster.lib import mapping
from connector_dagster.lib.store import Store
from connector_dagster_tests.flows.bills.test_flow import (
    FLOW,
    PERIOD,
    PREFIX,
    expected,
    postable,
    st_bills,
)
from connector_dagster_tests.flows.postings import (
    clear,
    failed,
    mappings,
    materialize,
    only,
    postings,
    reconcile_json,
    totals_ifs,
    writes,
)

NEXT = "2026-11-01"


def net(*sets: dict[str, Any]) -> Counter:
    sums: Counter = Counter()
    for posting in sets:
        sums.update(totals_ifs(posting))
    return Counter({k: v for k, v in sums.items() if v})


def remap(db_env: str, gl_account: str, ifs_account: str) -> None:
    """As finance would: one `ifs_accounts` entry changed (a new mapping version)."""
    store = Store(db_env)
    try:
        tables = registry.tables()
        mapping.ensure_loaded(store, "sandbox", registry.connection("sandbox").mappings, tables)
        mapping.set_entry(store, "sandbox", "ifs_accounts", gl_account, ifs_account, tables)
    finally:
        store.close()


def test_a_mapping_corrected_after_close_moves_the_amounts_in_the_next_open_period(
    sandbox_connection: dict, db_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    only(FLOW)
    path = Path(os.environ["CONNECTOR_CONNECTIONS_FILE"])
    path.write_text(path.read_text().replace("bills: {}", "bills: {corrections: next_open_period}"))
    keys = postable(st_bills())
    assert materialize(FLOW, PERIOD).success
    assert materialize(FLOW, NEXT).success
    ifs = sandbox_connection["ifs"]["base_url"]
    httpx.post(f"{ifs}/_sandbox/periods/ACME01/2026-10/close", timeout=10).raise_for_status()
    bills, before = st_bills(), mappings()
    originals = {**postings("ST-APB-"), **postings("ST-INB-")}
    remap(db_env, "610", "5020")
    after = mappings()
    moved = {k for k in keys if expected(bills[k], before) != expected(bills[k], after)}
    assert moved

    assert materialize(FLOW, PERIOD).success
    assert failed(FLOW) == {}
    found = {**postings("ST-APB-"), **postings("ST-INB-")}
    for key in moved:
        reference = PREFIX[key.split("-")[0]] + key.split("-")[1]
        [original], [correction] = found[reference], found[f"{reference}-C1"]
        assert [original] == originals[reference]
        assert correction["VoucherDate"] == NEXT
        assert net(original, correction) == expected(bills[key], after), key
        assert {account for account, _ in net(correction)} == {"6100", "5020"}, key
    corrected = {r.removesuffix("-C1") for r in found if r.endswith("-C1")}
    assert corrected == {PREFIX[k.split("-")[0]] + k.split("-")[1] for k in moved}

    assert materialize(FLOW, NEXT).success
    for period in (PERIOD, NEXT):
        code, report = reconcile_json(capsys, period)
        assert code == 0 and report["reconciles"], report["flows"][0]["differences"]
    assert report["flows"][0]["counts"]["corrections"] == len(moved)
    clear(ifs)
    assert materialize(FLOW, PERIOD).success
    assert writes(ifs) == Counter()
