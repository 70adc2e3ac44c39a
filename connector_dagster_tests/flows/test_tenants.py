"""Two connections on two tenants of one sandbox: each its own credentials, data and
ceilings; an outage of one tenant's ServiceTitan leaves the other syncing F1's period
in full, and the connector's shared rate limits keep one bucket per tenant and host."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector_dagster.engine import flow, registry
from connector_dagster.engine.records import Period
from connector_dagster.engine.session import Session
from connector_dagster.lib import db
from connector_dagster.lib.settings import PROJECT_ROOT
from connector_dagster.lib.store import Store
from connector_dagster.systems.vault import Vault
from connector_dagster_tests.conftest import SANDBOX_CLOCK
from connector_dagster_tests.flows import support

PERIOD = "2026-10-01"
TENANTS = {"north": "1234567", "south": "7654321"}
ST_RATE_PER_S = {"north": 60.0, "south": 40.0}
"""Each tenant's ServiceTitan ceiling, in the sandbox and in its connection alike."""


@pytest.fixture(scope="module")
def two_tenants() -> Iterator[dict[str, dict[str, Any]]]:
    """One sandbox serving the tenants of TENANTS; their descriptions by connection."""
    from connector_dagster.sandbox.server import SandboxConfig, SandboxProcess

    config = SandboxConfig(
        ifs_port=0,
        st_port=0,
        now=SANDBOX_CLOCK,
        st_rate_per_s=ST_RATE_PER_S["north"],
        tenants=[{"st_tenant_id": TENANTS["south"], "st_rate_per_s": ST_RATE_PER_S["south"]}],
    )
    with SandboxProcess(config) as proc:
        yield dict(zip(TENANTS, proc.info["tenants"], strict=True))


@pytest.fixture
def connections(
    two_tenants: dict[str, dict[str, Any]],
    db_env: str,
    master_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, dict[str, Any]]:
    """A connections file with `north` and `south`, each on its tenant with its own
    ceilings, and their credentials in the vault."""
    blocks = []
    store = Store(db_env)
    vault = Vault(store)
    for name, info in two_tenants.items():
        ifs, st = info["ifs"], info["servicetitan"]
        httpx.post(f"{ifs['base_url']}/_sandbox/reset", timeout=60).raise_for_status()
        control = f"{st['api_url']}/_sandbox/tenants/{st['tenant_id']}"
        httpx.post(f"{control}/reset", timeout=60).raise_for_status()
        httpx.put(f"{control}/faults", json={}, timeout=10).raise_for_status()
        blocks.append(
            f"""  {name}:
    timezone: America/Los_Angeles
    mappings: {PROJECT_ROOT / "connector_dagster/mappings/sandbox.yaml"}
    flows: {{purchase_orders: {{}}}}
    ifs: {{base_url: "{ifs["base_url"]}", realm: {ifs["realm"]}, company: ACME01}}
    servicetitan:
      api_url: "{st["api_url"]}"
      auth_url: "{st["auth_url"]}"
      tenant_id: "{st["tenant_id"]}"
      rate_per_s: {ST_RATE_PER_S[name]}
"""
        )
        for field in ("client_id", "client_secret"):
            vault.set(name, "ifs", field, ifs[field])
        for field in ("client_id", "client_secret", "app_key", "webhook_key"):
            vault.set(name, "servicetitan", field, st[field])
    store.close()
    path = tmp_path / "connections.yaml"
    path.write_text("connections:\n" + "".join(blocks))
    monkeypatch.setenv("CONNECTOR_CONNECTIONS_FILE", str(path))
    return two_tenants


def sync(name: str) -> dict[str, Any]:
    """F1's period read and written for connection `name`: its report."""
    spec = registry.flow("purchase_orders")
    with Session.open(name) as session:
        reads = support.read_all(spec.name, session, Period.parse(PERIOD))
        return {"report": flow.write(spec, session, PERIOD, reads).report}


def st_requests(info: dict[str, Any]) -> dict[int, int]:
    """The tenant's ServiceTitan API requests by status (its token requests aside)."""
    st = info["servicetitan"]
    rows = httpx.get(
        f"{st['api_url']}/_sandbox/tenants/{st['tenant_id']}/requests", timeout=10
    ).json()
    statuses: dict[int, int] = {}
    for row in rows:
        if "token" not in row["route"]:
            statuses[row["status"]] = statuses.get(row["status"], 0) + row["count"]
    return statuses


def test_each_connection_reaches_its_own_tenant(connections: dict[str, dict[str, Any]]) -> None:
    """The two tenants' data differ, and each connection's client reads its own."""
    first_pos = {}
    for name in TENANTS:
        with Session.open(name) as session:
            page = session.servicetitan.get("inventory", "purchase-orders", {"pageSize": 5})
            first_pos[name] = [(po["id"], po["total"]) for po in page["data"]]
    assert first_pos["north"] != first_pos["south"]


def test_an_outage_of_one_tenant_leaves_the_other_syncing(
    connections: dict[str, dict[str, Any]], db_env: str
) -> None:
    north, south = connections["north"], connections["south"]
    st = north["servicetitan"]
    outage = {"rate_500": 1.0, "methods": ["POST", "PATCH"]}
    control = f"{st['api_url']}/_sandbox/tenants/{st['tenant_id']}/faults"
    httpx.put(control, json=outage, timeout=10).raise_for_status()

    results: dict[str, Any] = {}

    def run(name: str) -> None:
        try:
            results[name] = sync(name)
        except Exception as exc:  # reported by the assertions below
            results[name] = {"error": exc}

    threads = [threading.Thread(target=run, args=(name,)) for name in TENANTS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)

    south_report = results["south"]["report"]
    assert south_report.created and not south_report.failed, results["south"]
    assert st_requests(south).keys() == {200}, "south saw no fault, no 429"
    north_report = results["north"]["report"]
    assert not north_report.created and north_report.failed, results["north"]
    assert 500 in st_requests(north)
    store = Store(db_env)
    try:
        parked = store.failed(connection="north", flow="purchase_orders", partition_key=PERIOD)
        assert {f.source_key for f in parked} == set(north_report.failed)
        assert not store.failed(connection="south", flow="purchase_orders")
    finally:
        store.close()

    # One ceiling per tenant and host, as each connection is configured.
    with db.transaction(db_env) as cur:
        cur.execute("SELECT api, bucket, per_s FROM connector.rate_limits ORDER BY api, bucket")
        buckets = cur.fetchall()
    st_buckets = {bucket: per_s for api, bucket, per_s in buckets if api == "servicetitan"}
    host = st["api_url"].split("//", 1)[1]
    assert st_buckets == {
        f"{host}/{TENANTS[name]}": ST_RATE_PER_S[name] for name in ("north", "south")
    }
    ifs_hosts = {bucket for api, bucket, _ in buckets if api == "ifs"}
    assert ifs_hosts == {info["ifs"]["base_url"].split("//", 1)[1] for info in (north, south)}

    # The outage over, north syncs its period; south has nothing left to write.
    httpx.put(control, json={}, timeout=10).raise_for_status()
    assert sync("north")["report"].created
    again = sync("south")["report"]
    assert not again.created and not again.failed
