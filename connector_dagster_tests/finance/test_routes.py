"""Finance's page over plain HTTP, route by route, on a period of F1 synced into the
sandbox (2026-05: two POs ServiceTitan cannot take): the grid, the queue with its
filters and actions (retry, resolve, ignore with a note), a record's trace, one flow's
reconciliation, CSV of each list; and what protects it (login, host check, CSRF,
escaping, headers)."""

from __future__ import annotations

import base64
import csv
import io
import re
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from connector_dagster.engine.registry import flow as flow_spec
from connector_dagster.finance.access import Access
from connector_dagster.finance.server import running
from connector_dagster.lib import db
from connector_dagster.lib.settings import ConfigError
from connector_dagster.lib.store import Audit, RecordRef, Store
from connector_dagster_tests.engine.test_set_aside import (
    FLOW,
    NEGATIVE_PRICE,
    NO_PART,
    PERIOD,
    patch_ifs_line,
)
from connector_dagster_tests.flows import support

Page = tuple[httpx.Client, Access, Store]


@pytest.fixture
def page(sandbox_connection: dict) -> Iterator[Page]:
    """The page on loopback, over the sandbox connection with 2026-05 of F1 written."""
    assert support.write_in_process(FLOW, PERIOD)["failed"] == 2
    store = Store(db.database_url())
    access = Access.for_host("127.0.0.1", None)
    with (
        running(store, ["sandbox"], access, "http://127.0.0.1:3000") as base,
        httpx.Client(base_url=base, timeout=120) as client,
    ):
        yield client, access, store
    store.close()


def csv_rows(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def cell(html: str, period: str, flow: str) -> str:
    match = re.search(
        rf'<td class="cell (\w+)" data-period="{period}" data-flow="{flow}">(.*?)</td>', html, re.S
    )
    assert match, f"no cell {period} {flow}"
    return f"{match[1]} {' '.join(match[2].split())}"


def act(client: httpx.Client, access: Access, action: str, ids: list[int], **form: str) -> str:
    """Post an action of the queue; the message shown after the redirect."""
    data = {"csrf": access.csrf, "connection": "sandbox", "action": action, "id": ids, **form}
    answer = client.post("/failed", data=data)
    assert answer.status_code == 303, answer.text
    shown = client.get(answer.headers["location"]).text
    match = re.search(r'<p class="message (\w+)" role="status">(.*?)</p>', shown, re.S)
    assert match, shown
    return f"{match[1]}: {match[2]}"


def test_grid_shows_each_flows_period_with_its_state_and_money(page: Page) -> None:
    client, _, store = page
    html = client.get("/").text
    f1 = cell(html, "2026-05", FLOW)
    assert f1.startswith("red") and "2 failed" in f1
    [row] = [r for r in csv_rows(client.get("/?format=csv")) if r["period"] == "2026-05"]
    synced = sum(1 for e in store.ledger_for_partition("sandbox", FLOW, PERIOD).values()
                 if e.status == "synced")  # fmt: skip
    assert (row["flow"], row["state"], row["open_failed"], row["synced"]) == (
        FLOW, "red", "2", str(synced))  # fmt: skip
    assert float(row["synced_amount"]) > 0
    assert f"{synced} synced" in f1


def test_queue_filters_by_reason_and_exports_csv(page: Page) -> None:
    client, _, _ = page
    html = client.get("/failed", params={"reason": "validation"}).text
    assert NEGATIVE_PRICE in html and NO_PART in html
    assert "2 record(s)" in html
    assert "0 record(s)" in client.get("/failed", params={"reason": "conflict"}).text
    rows = csv_rows(client.get("/failed", params={"flow": FLOW, "format": "csv"}))
    assert {r["source_key"] for r in rows} == {NEGATIVE_PRICE, NO_PART}
    assert {r["reason"] for r in rows} == {"validation"}


def test_ignore_and_resolve_need_a_note_and_a_name_and_turn_the_period_clean(page: Page) -> None:
    client, access, store = page
    ids = {f.source_key: f.id for f in store.failed(connection="sandbox")}
    assert act(client, access, "ignore", [ids[NEGATIVE_PRICE]], note="", by="Ana") == (
        "error: --note is empty: say why the record will never be written"
    )
    said = act(client, access, "ignore", [ids[NEGATIVE_PRICE]], note="a credit", by="Ana")
    assert said == "ok: ignored 1 record(s) by Ana"
    said = act(client, access, "resolve", [ids[NO_PART]], note="keyed by hand", by="Bo")
    assert said == f"ok: resolved 1 record(s) by Bo; no open failed record left in {FLOW} 2026-05"
    assert store.failed(connection="sandbox") == []
    assert not cell(client.get("/").text, "2026-05", FLOW).startswith("red")
    aside = client.get("/failed", params={"view": "set_aside"}).text
    assert "ignored by Ana" in aside and "resolved by Bo" in aside

    answer = client.post("/reconcile", data={"csrf": access.csrf, "connection": "sandbox",
                                             "flow": FLOW, "period": PERIOD})  # fmt: skip
    assert answer.status_code == 303
    label = flow_spec(FLOW).label
    assert f"{label} 2026-05 reconciles" in client.get(answer.headers["location"]).text
    assert cell(client.get("/").text, "2026-05", FLOW).startswith("reconciles")


def test_retry_replays_a_record_fixed_in_its_source(page: Page, sandbox_connection: dict) -> None:
    client, access, store = page
    [before] = [r for r in csv_rows(client.get("/?format=csv")) if r["period"] == "2026-05"]
    patch_ifs_line(sandbox_connection, NO_PART, "1", {"PartNo": "P-10001"})
    ids = {f.source_key: f.id for f in store.failed(connection="sandbox")}
    said = act(client, access, "retry", [ids[NO_PART]])
    assert said == "ok: replayed 1 record(s): 1 resolved, 0 failed again"
    assert [f.source_key for f in store.failed(connection="sandbox")] == [NEGATIVE_PRICE]
    # the grid's money follows (its totals are kept between loads, recounted on change)
    [after] = [r for r in csv_rows(client.get("/?format=csv")) if r["period"] == "2026-05"]
    written = store.ledger("sandbox", FLOW, [NO_PART])[NO_PART].last_payload
    total = flow_spec(FLOW).amounts.total(written)  # type: ignore[union-attr]
    assert int(after["synced"]) == int(before["synced"]) + 1 and after["open_failed"] == "1"
    assert Decimal(after["synced_amount"]) == Decimal(before["synced_amount"]) + total


def test_trace_shows_source_attempts_payload_target_and_runs(page: Page) -> None:
    client, _, store = page
    synced = next(k for k, e in store.ledger_for_partition("sandbox", FLOW, PERIOD).items()
                  if e.status == "synced")  # fmt: skip
    entry = store.ledger("sandbox", FLOW, [synced])[synced]
    html = client.get("/trace", params={"key": synced}).text
    assert f'<strong class="target-id">{entry.target_id}</strong>' in html
    assert f"IFS PO {synced}" in html and entry.mapping_version in html
    assert "payload sent" in html and "&#34;vendorId&#34;" in html
    assert "<td>read</td>" in html and "<td>create</td>" in html
    rows = csv_rows(client.get("/trace", params={"key": synced, "format": "csv"}))
    assert [r["action"] for r in rows][-1] == "create" and rows[-1]["target_id"] == entry.target_id

    failed = client.get("/trace", params={"key": NEGATIVE_PRICE}).text
    assert "<td>fail</td>" in failed and "BuyUnitPrice" in failed and "open" in failed
    partial = client.get("/trace", params={"key": "2026-0015"}).text
    assert "Records whose key contains it" in partial and NEGATIVE_PRICE in partial


def test_keys_and_messages_from_outside_are_escaped(page: Page) -> None:
    client, _, store = page
    evil = '<script>alert("x")</script>'
    store.record_failed(RecordRef("sandbox", FLOW, evil), reason="rejected",
                        message=f"<img src=x onerror=alert(1)> {evil}", payload=None,
                        audit=Audit("fail", partition_key=PERIOD))  # fmt: skip
    for html in (client.get("/failed").text, client.get("/trace", params={"key": evil}).text):
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_forms_without_the_pages_token_and_other_host_names_are_refused(page: Page) -> None:
    client, _, store = page
    [first, *_] = store.failed(connection="sandbox")
    answer = client.post("/failed", data={"action": "ignore", "id": first.id, "note": "n",
                                          "by": "Eve", "connection": "sandbox"})  # fmt: skip
    assert answer.status_code == 403
    assert len(store.failed(connection="sandbox")) == 2
    assert client.get("/", headers={"Host": "evil.example:8591"}).status_code == 400
    headers = client.get("/").headers
    assert "script-src" not in headers["content-security-policy"]
    assert "default-src 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY" and headers["cache-control"] == "no-store"
    assert client.get("/", params={"connection": "nope"}).status_code == 400


def test_beyond_loopback_the_page_needs_a_token_and_asks_for_a_login(
    sandbox_connection: dict,
) -> None:
    with pytest.raises(ConfigError, match="CONNECTOR_FINANCE_TOKEN"):
        Access.for_host("0.0.0.0", None)  # noqa: S104
    with pytest.raises(ConfigError, match="at least 16"):
        Access.for_host("0.0.0.0", "short")  # noqa: S104
    token = "correct-horse-battery-staple"
    access = Access.for_host("0.0.0.0", token)  # noqa: S104
    store = Store(db.database_url())
    store.record_failed(RecordRef("sandbox", FLOW, NO_PART), reason="rejected", message="m",
                        payload=None, audit=Audit("fail", partition_key=PERIOD))  # fmt: skip
    with running(store, ["sandbox"], access) as base:
        assert httpx.get(base).status_code == 401
        assert httpx.get(base).headers["www-authenticate"].startswith("Basic")
        wrong = base64.b64encode(b"ana:wrong").decode()
        assert httpx.get(base, headers={"Authorization": f"Basic {wrong}"}).status_code == 401
        login = base64.b64encode(f"ana:{token}".encode()).decode()
        ok = httpx.get(f"{base}/failed", headers={"Authorization": f"Basic {login}"})
        assert ok.status_code == 200 and "signed in as ana" in ok.text
        assert 'name="by" value="ana"' in ok.text
        bearer = httpx.get(base, headers={"Authorization": f"Bearer {token}"})
        assert bearer.status_code == 200 and token not in bearer.text
    store.close()


def test_finance_serve_refuses_an_open_address_without_a_token(
    sandbox_connection: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    from connector_dagster.cli import main

    assert main(["finance", "serve", "--host", "0.0.0.0", "--port", "0"]) == 2  # noqa: S104
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "set CONNECTOR_FINANCE_TOKEN" in err and "or bind it to 127.0.0.1" in err
    assert main(["finance", "serve", "--connection", "nope"]) == 2
    assert "unknown connection 'nope'" in capsys.readouterr().err
