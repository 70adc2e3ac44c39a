"""The deployment as its users meet it: Dagster's webserver and daemon on PostgreSQL
storage in a temporary DAGSTER_HOME, driven over GraphQL as the UI drives them, and the
asset's partitions page as a person sees it in headless Chromium.

A backfill of three periods of F1 runs with one fault: an IFS user moved a purchase
order of the middle period to a vendor nobody has mapped yet. That period is red, the
others green. The browser test looks at that state; the end-to-end test then maps the
vendor, re-executes the failed period's run from failure and sees all three green, and that the
daemon ticked the poll schedule and the change sensor (the module's tests run in this
order, on one shared backfill). Then a person follows the README's click path to sync a
fourth period, and a difference planted in ServiceTitan makes one period's
reconciliation red, on that period, in the partitions view and in its check."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography.fernet import Fernet

from connector_dagster.lib import db
from connector_dagster.lib.settings import PROJECT_ROOT
from connector_dagster.lib.store import Store
from connector_dagster.systems.vault import Vault, load_keys
from connector_dagster_tests.browser import ARTIFACTS, FLAGS, chromium
from connector_dagster_tests.conftest import IFS_RATE_PER_MIN, ST_RATE_PER_S, new_database
from connector_dagster_tests.dagster_processes import LOCATION, wait_for, webserver_and_daemon

PERIODS = ("2026-06-01", "2026-07-01", "2026-08-01")
RED = "2026-07-01"
CLICKED = "2026-10-01"
"""The period a person syncs by the README's click path (among the last 90 days the
launch dialog shows first)."""
RECONCILIATION = ("sandbox", "period_reconciliation")
READ, WRITE = ("sandbox", "ifs_purchase_orders"), ("sandbox", "servicetitan_purchase_orders")
SCHEDULE = "sandbox_purchase_orders_poll_schedule"
SENSOR = "sandbox_purchase_orders_change_sensor"
NEW_VENDOR = "V9999"
TERMINAL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}

UI_WAIT_MS = 120_000
"""How long the browser waits for a state of the page (Playwright's default: 5 s)."""


class GraphQL:
    """The webserver's GraphQL endpoint, as the UI calls it."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.errors: dict[str, str | None] = {}
        """A backfill's error, as its page shows it."""

    def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        response = httpx.post(
            f"{self.base}/graphql", json={"query": query, "variables": variables}, timeout=60
        )
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def launch_backfill(self, partitions: tuple[str, ...]) -> str:
        data = self(
            """mutation($params: LaunchBackfillParams!) {
                 launchPartitionBackfill(backfillParams: $params) {
                   __typename ... on LaunchBackfillSuccess { backfillId }
                   ... on PythonError { message } ... on InvalidSubsetError { message } } }""",
            params={
                "assetSelection": [{"path": list(READ)}, {"path": list(WRITE)}],
                "partitionNames": list(partitions),
                "title": "three periods of F1",
            },
        )["launchPartitionBackfill"]
        assert data["__typename"] == "LaunchBackfillSuccess", data
        return data["backfillId"]

    def backfill_runs(self, backfill_id: str, partition: str) -> list[str]:
        data = self(
            """query($filter: RunsFilter!) { runsOrError(filter: $filter) {
                 ... on Runs { results { runId } } } }""",
            filter={"tags": [{"key": "dagster/backfill", "value": backfill_id},
                             {"key": "dagster/partition", "value": partition}]},
        )["runsOrError"]  # fmt: skip
        return [r["runId"] for r in data["results"]]

    def partition_runs(self, partition: str) -> list[str]:
        data = self(
            """query($filter: RunsFilter!) { runsOrError(filter: $filter) {
                 ... on Runs { results { runId } } } }""",
            filter={"tags": [{"key": "dagster/partition", "value": partition}]},
        )["runsOrError"]
        return [r["runId"] for r in data["results"]]

    def reexecute_run_from_failure(self, run_id: str) -> str:
        data = self(
            """mutation($params: ReexecutionParams!) {
                 launchPipelineReexecution(reexecutionParams: $params) {
                   __typename ... on LaunchRunSuccess { run { runId } }
                   ... on PythonError { message } } }""",
            params={"parentRunId": run_id, "strategy": "FROM_FAILURE"},
        )["launchPipelineReexecution"]
        assert data["__typename"] == "LaunchRunSuccess", data
        return data["run"]["runId"]

    def wait_run(self, run_id: str) -> str:
        def status() -> str | None:
            data = self(
                """query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }""",
                id=run_id,
            )["runOrError"]
            return data["status"] if data["status"] in ("SUCCESS", "FAILURE", "CANCELED") else None

        return wait_for(f"run {run_id} to end", status, timeout_s=600)

    def backfill_status(self, backfill_id: str) -> str:
        data = self(
            """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
                 __typename ... on PartitionBackfill { status error { message } } } }""",
            id=backfill_id,
        )["partitionBackfillOrError"]
        self.errors[backfill_id] = (data.get("error") or {}).get("message")
        return data["status"]

    def wait_backfill(self, backfill_id: str) -> str:
        return wait_for(
            f"backfill {backfill_id} to end",
            lambda: (s := self.backfill_status(backfill_id)) in TERMINAL and s,
            timeout_s=600,
        )

    def partition_statuses(self, key: tuple[str, ...]) -> dict[str, str]:
        """Each period of the asset with a status: MATERIALIZED, FAILED or MATERIALIZING."""
        node = self(
            """query($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) {
                 ... on AssetNode { partitionKeys assetPartitionStatuses {
                   ... on TimePartitionStatuses { ranges { status startKey endKey } } } } } }""",
            key={"path": list(key)},
        )["assetNodeOrError"]
        keys = node["partitionKeys"]
        statuses = {}
        for r in node["assetPartitionStatuses"]["ranges"]:
            for k in keys[keys.index(r["startKey"]) : keys.index(r["endKey"]) + 1]:
                statuses[k] = r["status"]
        return statuses

    def launch_asset_backfill(self, key: tuple[str, ...], partitions: tuple[str, ...]) -> str:
        data = self(
            """mutation($params: LaunchBackfillParams!) {
                 launchPartitionBackfill(backfillParams: $params) {
                   __typename ... on LaunchBackfillSuccess { backfillId }
                   ... on PythonError { message } ... on InvalidSubsetError { message } } }""",
            params={"assetSelection": [{"path": list(key)}], "partitionNames": list(partitions)},
        )["launchPartitionBackfill"]
        assert data["__typename"] == "LaunchBackfillSuccess", data
        return data["backfillId"]

    def check_statuses(self, key: tuple[str, ...], check: str) -> dict[str, str]:
        """Each period of an asset check with a status: SUCCEEDED, FAILED, ..."""
        node = self(
            """query($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) {
                 ... on AssetNode { assetChecksOrError { ... on AssetChecks { checks {
                   name partitionKeysByDimension { partitionKeys }
                   partitionStatuses { ... on AssetCheckTimePartitionStatuses {
                     ranges { status startKey endKey } } } } } } } } }""",
            key={"path": list(key)},
        )["assetNodeOrError"]
        [found] = [c for c in node["assetChecksOrError"]["checks"] if c["name"] == check]
        keys = found["partitionKeysByDimension"][0]["partitionKeys"]
        statuses = {}
        for r in found["partitionStatuses"]["ranges"]:
            for k in keys[keys.index(r["startKey"]) : keys.index(r["endKey"]) + 1]:
                statuses[k] = r["status"]
        return statuses or found

    def schedule(self, name: str) -> dict[str, Any]:
        return self(
            """query($sel: ScheduleSelector!) { scheduleOrError(scheduleSelector: $sel) {
                 ... on Schedule { scheduleState { id status
                   ticks(limit: 5) { status runIds timestamp } } } } }""",
            sel={
                "repositoryLocationName": LOCATION,
                "repositoryName": "__repository__",
                "scheduleName": name,
            },
        )["scheduleOrError"]["scheduleState"]

    def sensor(self, name: str) -> dict[str, Any]:
        return self(
            """query($sel: SensorSelector!) { sensorOrError(sensorSelector: $sel) {
                 ... on Sensor { sensorState { status
                   ticks(limit: 5) { status skipReason runIds timestamp } } } } }""",
            sel={
                "repositoryLocationName": LOCATION,
                "repositoryName": "__repository__",
                "sensorName": name,
            },
        )["sensorOrError"]["sensorState"]


@dataclass
class Deployment:
    graphql: GraphQL
    base: str
    env: dict[str, str]
    sandbox: dict[str, Any]
    database_url: str
    backfill_id: str
    red_order: str

    def cli(self, *argv: str) -> str:
        """`connector-dagster` in the deployment's environment, as an operator runs it."""
        proc = subprocess.run(
            [sys.executable, "-m", "connector_dagster.cli", *argv],
            env=self.env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return proc.stdout


class IfsUser:
    """Edits IFS through its API on /int/ as a person's tool would: a token, a read for
    the ETag, a PATCH with If-Match."""

    def __init__(self, ifs: dict[str, Any]) -> None:
        token = httpx.post(
            ifs["token_url"],
            data={"grant_type": "client_credentials", "client_id": ifs["client_id"],
                  "client_secret": ifs["client_secret"]},
            timeout=30,
        ).json()["access_token"]  # fmt: skip
        self.base = f"{ifs['base_url']}/int/ifsapplications/projection/v1/PurchaseOrderHandling.svc"
        self.headers = {"Authorization": f"Bearer {token}"}

    def orders(self, period: str) -> list[dict[str, Any]]:
        start = date.fromisoformat(period)
        end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
        response = httpx.get(
            f"{self.base}/PurchaseOrderSet?$filter=OrderDate%20ge%20{start}"
            f"%20and%20OrderDate%20lt%20{end}",
            headers=self.headers,
            timeout=30,
        )
        response.raise_for_status()
        return response.json()["value"]

    def patch_order(self, order_no: str, changes: dict[str, Any]) -> None:
        url = f"{self.base}/PurchaseOrderSet(OrderNo='{order_no}')"
        etag = httpx.get(url, headers=self.headers, timeout=30).json()["@odata.etag"]
        response = httpx.patch(
            url, json=changes, headers={**self.headers, "If-Match": etag}, timeout=30
        )
        assert response.status_code in (200, 204), response.text


class ServiceTitanUser:
    """Edits ServiceTitan through its API as a person's tool would."""

    def __init__(self, st: dict[str, Any]) -> None:
        token = httpx.post(
            st["auth_url"],
            data={"grant_type": "client_credentials", "client_id": st["client_id"],
                  "client_secret": st["client_secret"]},
            timeout=30,
        ).json()["access_token"]  # fmt: skip
        self.base = f"{st['api_url']}/inventory/v2/tenant/{st['tenant_id']}/purchase-orders"
        self.headers = {"Authorization": f"Bearer {token}", "ST-App-Key": st["app_key"]}

    def connectors_po(self, order_no: str) -> dict[str, Any]:
        """The PO the connector wrote for an IFS order (its memo carries the order)."""
        page, found = 1, []
        while True:
            body = httpx.get(
                self.base, params={"page": page, "pageSize": 500}, headers=self.headers,
                timeout=30,
            ).json()  # fmt: skip
            found += [po for po in body["data"] if f"IFS PO {order_no} " in (po["summary"] or "")]
            if not body["hasMore"]:
                break
            page += 1
        [po] = found
        return po

    def add_one_to_a_quantity(self, po: dict[str, Any]) -> None:
        item = next(i for i in po["items"] if i.get("status") != "Inactive")
        keep = ("id", "skuId", "description", "vendorPartNumber", "cost")
        response = httpx.patch(
            f"{self.base}/{po['id']}",
            json={"items": [{**{k: item[k] for k in keep}, "quantity": item["quantity"] + 1}]},
            headers=self.headers,
            timeout=30,
        )
        assert response.status_code == 200, response.text


def _connections_file(folder: Path, sandbox: dict[str, Any]) -> Path:
    """The sandbox connection, polled every minute and its changes every 10 s, so that
    the daemon ticks the schedule and the sensor while the test runs."""
    ifs, st = sandbox["ifs"], sandbox["servicetitan"]
    path = folder / "connections.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "connections": {
                    "sandbox": {
                        "timezone": "America/Los_Angeles",
                        "start_period": "2025-10-01",
                        "mappings": str(PROJECT_ROOT / "connector_dagster/mappings/sandbox.yaml"),
                        "ifs": {"base_url": ifs["base_url"], "realm": ifs["realm"],
                                "company": "ACME01", "rate_per_min": IFS_RATE_PER_MIN},
                        "servicetitan": {"api_url": st["api_url"], "auth_url": st["auth_url"],
                                         "tenant_id": st["tenant_id"],
                                         "rate_per_s": ST_RATE_PER_S},
                        "polling": {"cron": "* * * * *", "change_interval_s": 10},
                        "flows": {"purchase_orders": {}},
                    }
                }
            }
        )
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def deployment(pg_url: str, sandbox: dict[str, Any]) -> Iterator[Deployment]:
    """The webserver and the daemon on a fresh database, and the three-period backfill
    with its one red period, ended."""
    folder = Path(tempfile.mkdtemp(prefix="connector-ui-"))
    home = folder / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    for base in (sandbox["ifs"]["base_url"], sandbox["servicetitan"]["api_url"]):
        httpx.post(f"{base}/_sandbox/reset", timeout=60).raise_for_status()
    url = new_database(pg_url)
    key = Fernet.generate_key().decode()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CONNECTOR_", "DAGSTER_"))},
        "DAGSTER_HOME": str(home),
        "CONNECTOR_DATABASE_URL": url,
        "CONNECTOR_DAGSTER_PG_URL": db.dagster_url(url),
        "CONNECTOR_MASTER_KEY": key,
        "CONNECTOR_CONNECTIONS_FILE": str(_connections_file(folder, sandbox)),
        "CONNECTOR_ENV_FILE": str(folder / "no.env"),
    }
    store = Store(url)
    vault = Vault(store, load_keys(key))
    for field in ("client_id", "client_secret"):
        vault.set("sandbox", "ifs", field, sandbox["ifs"][field])
    for field in ("client_id", "client_secret", "app_key", "webhook_key"):
        vault.set("sandbox", "servicetitan", field, sandbox["servicetitan"][field])
    store.close()

    ifs = IfsUser(sandbox["ifs"])
    order = next(o for o in ifs.orders(RED) if o["Objstate"] == "Released")
    ifs.patch_order(order["OrderNo"], {"VendorNo": NEW_VENDOR})
    try:
        with webserver_and_daemon(folder, env) as base:
            graphql = GraphQL(base)
            deployment = Deployment(graphql, base, env, sandbox, url, "", order["OrderNo"])
            deployment.cli("pools")
            deployment.backfill_id = graphql.launch_backfill(PERIODS)
            graphql.wait_backfill(deployment.backfill_id)
            yield deployment
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_partitions_page_shows_the_periods_and_the_red_ones_failure(
    deployment: Deployment,
) -> None:
    """What a person sees on the write asset's partitions page: the red period among the
    green ones, that its run failed, and in the run's log why, record by record."""
    from playwright.sync_api import expect, sync_playwright

    shots = ARTIFACTS / "ui"
    shots.mkdir(parents=True, exist_ok=True)
    url = f"{deployment.base}/assets/{'/'.join(WRITE)}?view=partitions"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium()), args=FLAGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        # Wait for states, generously: a busy machine renders the UI slowly.
        page.set_default_timeout(UI_WAIT_MS)
        expect.set_options(timeout=UI_WAIT_MS)
        page.goto(url)

        def periods() -> list[str]:
            rows = page.get_by_text(re.compile(r"^\d{4}-\d{2}-01$")).filter(visible=True)
            return [rows.nth(i).inner_text() for i in range(rows.count())]

        expect(page.get_by_text("Failed (1)")).to_be_visible()
        assert set(PERIODS) <= set(periods())
        for status in ("Materialized", "Materializing", "Missing"):  # show the failed only
            page.get_by_text(re.compile(rf"^{status} \(\d+\)$")).click()
        expect(page.get_by_text("2026-06-01", exact=True).filter(visible=True)).to_have_count(0)
        assert RED in periods() and not {"2026-06-01", "2026-08-01"} & set(periods())

        page.get_by_text(RED, exact=True).filter(visible=True).last.click()
        banner = page.get_by_text(re.compile(r"Run \w+ failed, and did not materialize"))
        expect(banner).to_be_visible()
        page.screenshot(path=str(shots / "partitions-page.png"))
        # The period's events, no log, no traceback: each failed record, its fix.
        events = browser.new_page(viewport={"width": 1600, "height": 1000})
        events.goto(f"{deployment.base}/assets/{'/'.join(WRITE)}?view=events&partition={RED}")
        expect(events.get_by_text(deployment.red_order, exact=True).first).to_be_visible()
        expect(
            events.get_by_text(f"mapping_missing: PO '{deployment.red_order}': VendorNo").first
        ).to_be_visible()
        events.screenshot(path=str(shots / "partition-failed-records.png"))
        events.close()

        page.get_by_role("button", name="View logs").click()
        # The run also read the period, in a step of its own: its failure is the last
        # long message of the run.
        page.get_by_role("button", name="View full message").last.click()
        error = page.get_by_role("dialog").last
        expect(error).to_contain_text(
            re.compile(rf"1 of \d+ PO records of {RED} failed and were parked in failed_records")
        )
        # The failure names the first record, its reason and its fix in its description.
        expect(error).to_contain_text(
            f"the first: PO '{deployment.red_order}': VendorNo '{NEW_VENDOR}' has no vendor mapping"
        )
        page.screenshot(path=str(shots / "partition-failure.png"))
        browser.close()


def test_a_failed_period_goes_green_when_its_run_is_reexecuted_from_failure(
    deployment: Deployment,
) -> None:
    graphql = deployment.graphql
    assert graphql.backfill_status(deployment.backfill_id) == "COMPLETED_FAILED"
    assert {p: graphql.partition_statuses(WRITE).get(p) for p in PERIODS} == {
        "2026-06-01": "MATERIALIZED",
        RED: "FAILED",
        "2026-08-01": "MATERIALIZED",
    }
    failed = deployment.cli("failed", "list", "--period", RED[:7])
    assert f'"source_key": "{deployment.red_order}"' in failed and "mapping_missing" in failed

    vendors = deployment.cli("mappings", "list", "sandbox", "--kind", "vendors")
    st_vendor = vendors.splitlines()[1].split("\t")[2]
    deployment.cli("mappings", "set", "sandbox", "vendors", NEW_VENDOR, st_vendor)
    # The failed period's run, re-executed from failure: only its write step runs again,
    # on the read it kept. (A backfill's own "re-execute from failure" asks for the write
    # asset alone, which Dagster cannot run without its read: the flow is one graph.)
    [failed_run] = graphql.backfill_runs(deployment.backfill_id, RED)
    again = graphql.reexecute_run_from_failure(failed_run)
    assert graphql.wait_run(again) == "SUCCESS"
    statuses = graphql.partition_statuses(WRITE)
    assert {p: statuses.get(p) for p in PERIODS} == dict.fromkeys(PERIODS, "MATERIALIZED")
    assert deployment.cli("failed", "list", "--period", RED[:7]) == ""

    schedule = wait_for(
        "the daemon to tick the poll schedule",
        lambda: (s := graphql.schedule(SCHEDULE)) and any(
            t["status"] == "SUCCESS" and t["runIds"] for t in s["ticks"]
        ) and s,
        timeout_s=180,
    )  # fmt: skip
    assert schedule["status"] == "RUNNING"
    sensor = wait_for(
        "the daemon to tick the change sensor",
        lambda: (s := graphql.sensor(SENSOR)) and s["ticks"] and s,
        timeout_s=180,
    )
    assert sensor["status"] == "RUNNING"
    assert {t["status"] for t in sensor["ticks"]} <= {"SKIPPED", "SUCCESS"}, sensor["ticks"]


def _browser(playwright: Any) -> Any:
    browser = playwright.chromium.launch(executable_path=str(chromium()), args=FLAGS)
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.set_default_timeout(UI_WAIT_MS)
    return browser, page


def test_the_readmes_click_path_syncs_a_period(deployment: Deployment) -> None:
    """Catalog → servicetitan_purchase_orders → Materialize…: Dagster brings the read
    asset with the write (one graph), the period is read and written, both green."""
    from playwright.sync_api import expect, sync_playwright

    graphql = deployment.graphql
    assert graphql.partition_statuses(WRITE).get(CLICKED) is None  # never synced
    shots = ARTIFACTS / "ui"
    with sync_playwright() as playwright:
        browser, page = _browser(playwright)
        expect.set_options(timeout=UI_WAIT_MS)
        page.goto(f"{deployment.base}/assets/{'/'.join(WRITE)}")
        page.get_by_role("button").filter(has_text="Materialize").first.click()
        confirm = page.get_by_role("dialog").filter(has_text="does not support")
        expect(confirm).to_contain_text("ifs_purchase_orders")
        page.screenshot(path=str(shots / "click-path-confirm.png"))
        confirm.get_by_role("button", name="Confirm").click()
        chooser = page.get_by_role("dialog").filter(has_text="Launch runs to materialize")
        expect(chooser).to_be_visible()
        page.screenshot(path=str(shots / "click-path-dialog.png"))
        field = chooser.get_by_role("textbox").first
        field.fill(CLICKED)
        field.press("Enter")
        expect(chooser.get_by_text("Upstream data missing")).to_have_count(0)
        page.screenshot(path=str(shots / "click-path-partition.png"))
        chooser.get_by_role("button", name=re.compile(r"^Launch (backfill|1 run)$")).click()
        expect(chooser).to_have_count(0)
        page.screenshot(path=str(shots / "click-path-launched.png"))
        browser.close()
    [run] = wait_for(f"a run of {CLICKED}", lambda: graphql.partition_runs(CLICKED))
    assert graphql.wait_run(run) == "SUCCESS"
    statuses = wait_for(
        f"{CLICKED} to be read and written",
        lambda: (
            (s := {k: graphql.partition_statuses(k).get(CLICKED) for k in (READ, WRITE)})
            and all(v in ("MATERIALIZED", "FAILED") for v in s.values())
            and s
        ),
        timeout_s=600,
    )
    assert statuses == {READ: "MATERIALIZED", WRITE: "MATERIALIZED"}


def test_a_period_that_does_not_reconcile_is_red_on_that_period(deployment: Deployment) -> None:
    """A quantity changed by hand in ServiceTitan: that period's reconciliation partition
    is Failed, naming the period, and its check failed for that period only."""
    from playwright.sync_api import expect, sync_playwright

    graphql, green, red = deployment.graphql, "2026-06-01", "2026-08-01"
    order = next(o for o in IfsUser(deployment.sandbox["ifs"]).orders(red)
                 if o["Objstate"] == "Released")  # fmt: skip
    st = ServiceTitanUser(deployment.sandbox["servicetitan"])
    st.add_one_to_a_quantity(st.connectors_po(order["OrderNo"]))
    backfill = graphql.launch_asset_backfill(RECONCILIATION, (green, red))
    graphql.wait_backfill(backfill)
    statuses = graphql.partition_statuses(RECONCILIATION)
    assert {p: statuses.get(p) for p in (green, red)} == {green: "MATERIALIZED", red: "FAILED"}
    checks = graphql.check_statuses(RECONCILIATION, "purchase_orders_reconciles")
    assert {p: checks.get(p) for p in (green, red)} == {green: "SUCCEEDED", red: "FAILED"}, checks

    shots = ARTIFACTS / "ui"
    with sync_playwright() as playwright:
        browser, page = _browser(playwright)
        expect.set_options(timeout=UI_WAIT_MS)
        page.goto(f"{deployment.base}/assets/{'/'.join(RECONCILIATION)}?view=partitions")
        expect(page.get_by_text("Failed (1)")).to_be_visible()
        page.get_by_text(red, exact=True).filter(visible=True).last.click()
        expect(
            page.get_by_text(re.compile(r"Run \w+ failed, and did not materialize"))
        ).to_be_visible()
        page.screenshot(path=str(shots / "reconciliation-red-period.png"))
        page.get_by_role("button", name="View logs").click()
        # The run also read the period, in a step of its own: its failure is the last
        # long message of the run.
        page.get_by_role("button", name="View full message").last.click()
        expect(page.get_by_role("dialog").last).to_contain_text(
            f"{red[:7]} does not reconcile: 2 difference(s) (purchase_orders 2)"
        )
        page.screenshot(path=str(shots / "reconciliation-red-failure.png"))
        page.goto(f"{deployment.base}/assets/{'/'.join(RECONCILIATION)}?view=checks")
        page.get_by_text("purchase_orders_reconciles").first.click()
        expect(page.get_by_text(f"{red[:7]} does not reconcile").first).to_be_visible()
        page.screenshot(path=str(shots / "reconciliation-red-check.png"))
        browser.close()
