"""Flow F3 end to end: ServiceTitan invoices into IFS posting sets, over real HTTP against
the sandbox and a real PostgreSQL, compared through both APIs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest

from connector_dagster.engine import registry
from connector_dagster.engine.session import Session
from connector_dagster.lib import mapping
from connector_dagster.lib.settings import PROJECT_ROOT
from connector_dagster.lib.store import Store
from connector_dagster_tests.flows.postings import (
    balanced,
    clear,
    defs,
    failed,
    mappings,
    materialize,
    postings,
    requests,
    set_connection,
    totals_ifs,
    writes,
)

FLOW = "invoices"
PERIOD = "2026-10-01"
COMMAND = [
    "asset", "materialize", "-m", "connector_dagster.definitions", "--select",
    "sandbox/servicetitan_invoices,sandbox/servicetitan_jobs,sandbox/ifs_invoice_postings",
    "--partition", PERIOD,
]  # fmt: skip
LOOKUP = ("GET", "GET ExternalVoucherHandling.svc/ExternalVoucherSet")
BATCH = ("POST", "POST ExternalVoucherHandling.svc/$batch")


def st_invoices(period: str = PERIOD) -> dict[str, dict[str, Any]]:
    """The period's invoices (inactive ones too) read through ServiceTitan's API."""
    start = date.fromisoformat(period)
    end = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    params = {
        "activeState": "All",
        "invoicedOnOrAfter": f"{start}T00:00:00Z",
        "invoicedOnBefore": f"{end}T00:00:00Z",
    }
    with Session.open("sandbox") as session:
        return {
            str(i["id"]): i
            for i in session.servicetitan.iter_pages("accounting", "invoices", params)
        }


def expected(invoice: dict[str, Any], maps: dict[str, dict[str, Any]]) -> Counter:
    """Net debit per (IFS account, cost centre) an invoice must post, from its
    ServiceTitan items, total and tax and the mapping tables."""
    centre = maps["business_units"][str(invoice["businessUnit"]["id"])]["cost_centre"]
    sums: Counter = Counter()
    sums[("1200", centre)] += Decimal(invoice["total"])
    for item in invoice["items"]:
        account = maps["ifs_accounts"][str(item["generalLedgerAccount"]["id"])]
        sums[(account, centre)] -= Decimal(item["total"])
    if Decimal(invoice["salesTax"]):
        account = maps["ifs_tax_codes"][str(invoice["taxZoneId"])]["account"]
        sums[(account, centre)] -= Decimal(invoice["salesTax"])
    return Counter({k: v for k, v in sums.items() if v})


def postable(invoices: dict[str, dict[str, Any]]) -> set[str]:
    """Active, posted (or exported by this connector), not zero on every account."""
    maps = mappings()
    return {
        k
        for k, i in invoices.items()
        if i["active"]
        and (
            i["syncStatus"] == "Posted"
            or (i["syncStatus"] == "Exported" and str(i["exportId"]).startswith("IFS "))
        )
        and expected(i, maps)
    }


def assert_posted(keys: set[str], period: str = PERIOD, besides: set[str] = frozenset()) -> None:
    """Exactly one checked, balanced posting set per invoice in `keys` (none for the
    period's others, `besides` aside), with the invoice's totals per account and cost
    centre; each invoice marked exported in ServiceTitan with its IFS key."""
    invoices, maps = st_invoices(period), mappings()
    sets = postings("ST-INV-")
    assert {r for r in sets if r.removeprefix("ST-INV-") in set(invoices) - besides} == {
        f"ST-INV-{k}" for k in keys
    }
    for key in keys:
        [posting] = sets[f"ST-INV-{key}"]
        assert balanced(posting) and posting["Objstate"] == "Checked", key
        assert totals_ifs(posting) == expected(invoices[key], maps), key
        assert posting["VoucherDate"] == invoices[key]["invoiceDate"][:10]
        assert posting["Text"].endswith("[connector:sandbox]")
        invoice = invoices[key]
        assert invoice["syncStatus"] == "Exported", key
        assert invoice["exportId"] == f"IFS {posting['Company']}/{posting['LoadId']}"


def st_post(info: dict, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{info['servicetitan']['api_url']}{path}", json=body, timeout=10)
    response.raise_for_status()
    return response.json()


def test_the_readme_command_posts_each_invoice_once_and_a_rerun_writes_nothing(
    sandbox_connection: dict,
) -> None:
    dagster = Path(sys.executable).parent / "dagster"
    proc = subprocess.run(
        [str(dagster), *COMMAND], cwd=PROJECT_ROOT, capture_output=True, text=True,
        env=dict(os.environ, CONNECTOR_DAGSTER_UI_URL="http://127.0.0.1:3000"),
        timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # what the write did, in a line, with the run's page in the UI (`make dev`'s .env
    # names the UI's address)
    assert re.search(
        r"sandbox invoices 2026-10: created \d+.*; run http://127\.0\.0\.1:3000/runs/[0-9a-f-]{36}",
        proc.stdout + proc.stderr,
    ), proc.stderr[-3000:]
    invoices = st_invoices()
    keys = postable(invoices)
    assert len(keys) > 40 and any(not i["active"] for i in invoices.values())
    assert_posted(keys)
    assert failed(FLOW) == {}
    ifs, st = sandbox_connection["ifs"]["base_url"], sandbox_connection["servicetitan"]["api_url"]
    clear(ifs)
    clear(st)
    assert materialize(FLOW, PERIOD).success
    assert writes(ifs) == Counter() and writes(st) == Counter()


@pytest.mark.parametrize("documents", [1, 10])
def test_with_batch_on_each_invoice_is_one_change_set(
    sandbox_connection: dict, documents: int
) -> None:
    """Each invoice is one change set, posted once; with 10 documents to a `$batch`, the
    invoices written together share requests (at most 10 to one), and so do their marks
    in ServiceTitan."""
    set_connection(batch=True, batch_documents=documents)
    ifs, st = sandbox_connection["ifs"]["base_url"], sandbox_connection["servicetitan"]["api_url"]
    clear(ifs)
    clear(st)
    result = materialize(FLOW, PERIOD)
    assert result.success, failed(FLOW)
    checks = {(e.asset_key.path[-1], e.check_name): e.passed
              for e in result.get_asset_check_evaluations()}  # fmt: skip
    assert checks == {
        ("servicetitan_invoices", "pandera_schema"): True,
        ("servicetitan_invoices", "pandera_records"): True,
        ("servicetitan_jobs", "pandera_schema"): True,
    }
    keys = postable(st_invoices())
    assert set(writes(ifs)) == {BATCH}
    marks = sum(n for (_, route), n in writes(st).items() if route.endswith("/markasexported"))
    if documents == 1:
        assert writes(ifs)[BATCH] == marks == len(keys)
    else:
        assert len(keys) / documents <= writes(ifs)[BATCH] < len(keys)
        assert len(keys) / documents <= marks < len(keys)
    assert_posted(keys)


def test_a_closed_ifs_period_posts_nothing_and_names_the_period(sandbox_connection: dict) -> None:
    """Every postable invoice is `period_closed` naming 2026-10, nothing is in IFS and no
    invoice is marked; once reopened, the re-run looks every one of them up (they were
    intended before) with at most 0.1 look-up requests per created posting set."""
    ifs = sandbox_connection["ifs"]["base_url"]
    httpx.post(f"{ifs}/_sandbox/periods/ACME01/2026-10/close", timeout=10).raise_for_status()
    assert not materialize(FLOW, PERIOD).success
    keys = postable(st_invoices())
    parked = failed(FLOW)
    assert set(parked) == keys
    for key, record in parked.items():
        assert record.reason == "period_closed"
        assert f"invoice {key!r}: IFS accounting period 2026-10 is closed for ACME01" in (
            record.message
        )
    assert postings("ST-INV-") == {}
    assert all(i["syncStatus"] != "Exported" for i in st_invoices().values())
    httpx.post(f"{ifs}/_sandbox/periods/ACME01/2026-10/reopen", timeout=10).raise_for_status()
    clear(ifs)
    result = materialize(FLOW, PERIOD)
    assert result.success
    [write] = [
        m.materialization.metadata
        for m in result.get_asset_materialization_events()
        if m.asset_key.path[-1] == "ifs_invoice_postings"
    ]
    created = write["created"].value
    assert created == len(keys)
    assert 0 < requests(ifs)[LOOKUP] <= 0.1 * created
    assert failed(FLOW) == {}
    assert_posted(keys)


def test_bad_mappings_park_the_invoices_that_need_them_and_the_rest_are_posted(
    sandbox_connection: dict, db_env: str
) -> None:
    """A business unit with no cost centre, an unknown GL account, an unknown tax code:
    each invoice that needs one is `mapping_missing` naming the invoice and the field; the
    others are posted; once the entries are back, the re-run posts them, once."""
    invoices = st_invoices()
    keys = postable(invoices)
    store = Store(db_env)
    tables = registry.tables()
    mapping.ensure_loaded(store, "sandbox", registry.connection("sandbox").mappings, tables)
    saved = {
        (kind, code): mapping.load(store, "sandbox", tables).table(kind)[code]
        for kind, code in (("business_units", "505"), ("ifs_accounts", "403"),
                           ("ifs_tax_codes", "15"))
    }  # fmt: skip
    for kind, code in saved:
        mapping.set_entry(store, "sandbox", kind, code, None, tables)

    def needs(invoice: dict[str, Any]) -> list[str]:
        why = []
        if invoice["businessUnit"]["id"] == 505:
            why.append("businessUnit '505' has no IFS company and cost centre mapping")
        for item in invoice["items"]:
            if item["generalLedgerAccount"]["id"] == 403:
                why.append(f"item {item['id']} generalLedgerAccount '403' (4030 Sales - "
                           "Equipment) has no IFS account mapping")  # fmt: skip
        if invoice["taxZoneId"] == 15 and Decimal(invoice["salesTax"]):
            why.append("taxZoneId '15' has no IFS tax code mapping")
        return why

    affected = {k for k in keys if needs(invoices[k])}
    assert not materialize(FLOW, PERIOD).success
    parked = failed(FLOW)
    assert set(parked) == affected
    for key in affected:
        assert parked[key].reason == "mapping_missing"
        for why in needs(invoices[key]):
            assert f"invoice {key}: {why}" in parked[key].message, parked[key].message
    assert_posted(keys - affected)
    for (kind, code), value in saved.items():
        mapping.set_entry(store, "sandbox", kind, code, value, tables)
    store.close()
    assert materialize(FLOW, PERIOD).success
    assert failed(FLOW) == {}
    assert_posted(keys)


def test_an_invoice_exported_by_another_integration_is_reported_not_posted(
    sandbox_connection: dict,
) -> None:
    invoices = st_invoices()
    key = sorted(postable(invoices))[0]
    st_post(sandbox_connection, f"/_sandbox/invoices/{key}/exported", {"externalId": "QB-7781"})
    result = materialize(FLOW, PERIOD)
    assert result.success, failed(FLOW)
    [write] = [
        m.materialization.metadata
        for m in result.get_asset_materialization_events()
        if m.asset_key.path[-1] == "ifs_invoice_postings"
    ]
    notes = write["not_written_why"].value
    assert any(n.startswith(f"{key}: invoice {key} is exported already by another "
                            "integration (externalId 'QB-7781')") for n in notes)  # fmt: skip
    assert f"ST-INV-{key}" not in postings("ST-INV-")
    assert st_invoices()[key]["exportId"] == "QB-7781"
    assert_posted(postable(invoices) - {key})


def test_an_inactive_invoice_deletes_its_posting_set_or_is_target_locked(
    sandbox_connection: dict,
) -> None:
    assert materialize(FLOW, PERIOD).success
    removed, locked = sorted(postable(st_invoices()))[:2]
    [locked_set] = postings("ST-INV-")[f"ST-INV-{locked}"]
    httpx.post(
        f"{sandbox_connection['ifs']['base_url']}/_sandbox/edit",
        json={"set": "ExternalVoucherSet", "key": {"Company": "ACME01",
              "LoadId": locked_set["LoadId"]}, "changes": {"Objstate": "Created"}},
        timeout=10,
    ).raise_for_status()  # fmt: skip
    for key in (removed, locked):
        st_post(sandbox_connection, "/_sandbox/invoices", {"id": int(key), "active": False})
    assert not materialize(FLOW, PERIOD).success
    sets = postings("ST-INV-")
    assert f"ST-INV-{removed}" not in sets and f"ST-INV-{locked}" in sets
    parked = failed(FLOW)
    assert set(parked) == {locked} and parked[locked].reason == "target_locked"
    assert f"IFS ExternalVoucher ACME01/{locked_set['LoadId']} can no longer be changed" in (
        parked[locked].message
    )


def test_the_change_sensor_requests_the_period_of_a_changed_invoice(
    sandbox_connection: dict,
) -> None:
    [sensor] = [s for s in defs(FLOW).sensors if s.name.endswith("_change_sensor")]
    first = sensor(dg.build_sensor_context(cursor=None))
    assert first.run_requests == []
    again = sensor(dg.build_sensor_context(cursor=first.cursor))
    assert again.run_requests == [] and again.cursor == first.cursor
    key = sorted(st_invoices("2026-09-01"))[0]
    st_post(sandbox_connection, "/_sandbox/invoices", {"id": int(key), "summary": "changed"})
    [request] = sensor(dg.build_sensor_context(cursor=first.cursor)).run_requests
    assert request.partition_key == "2026-09-01"
    assert request.run_key.startswith("invoices-2026-09-01-")


def test_a_refused_mark_is_a_failed_record_and_the_next_run_marks_it_again(
    sandbox_connection: dict,
) -> None:
    """A connection that posts pending invoices too: ServiceTitan refuses to mark one
    that is not posted yet, so it is a failed record naming its IFS key; once the
    invoice is posted in ServiceTitan, the next run finds the IFS posting set by its
    reference, writes nothing new to IFS and marks it."""
    from pathlib import Path

    path = Path(os.environ["CONNECTOR_CONNECTIONS_FILE"])
    path.write_text(
        path.read_text().replace("invoices: {}", "invoices: {sync_statuses: [Pending, Posted]}")
    )
    invoices = st_invoices()
    pending = sorted(k for k, i in invoices.items() if i["syncStatus"] == "Pending" and i["active"])
    assert pending
    assert not materialize(FLOW, PERIOD).success
    parked = failed(FLOW)
    assert set(parked) == set(pending)
    sets = postings("ST-INV-")
    for key in pending:
        [posting] = sets[f"ST-INV-{key}"]
        assert parked[key].reason == "rejected"
        assert (f"invoice {key!r}: posted to IFS as ExternalVoucher ACME01/{posting['LoadId']}, "
                "but ServiceTitan did not mark it exported") in parked[key].message  # fmt: skip
        assert "not posted yet" in parked[key].message
        st_post(sandbox_connection, "/_sandbox/invoices", {"id": int(key), "syncStatus": "Posted"})
    ifs = sandbox_connection["ifs"]["base_url"]
    clear(ifs)
    assert materialize(FLOW, PERIOD).success
    assert failed(FLOW) == {}
    assert writes(ifs) == Counter()
    assert_posted(postable(st_invoices()))
