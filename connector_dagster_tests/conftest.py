"""Shared fixtures: a throwaway PostgreSQL per test session, migrated, and a master key."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from connector_dagster.lib import db, migrate
from connector_dagster.lib.store import Store

TEST_SERVER_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
"""The session's server is thrown away with its data: it never flushes to disk, which
only matters if the machine itself crashes (a killed client or a stopped server loses
nothing)."""

TEMPLATE_DB = "connector_template"
"""A database migrated once per session, copied for each test."""


def _admin(url: str, *statements: str) -> None:
    admin = db.connect(url)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        admin.close()


def database_url(server_url: str, name: str) -> str:
    """The URL of database `name` on the server of `server_url`."""
    return server_url.replace("/postgres?", f"/{name}?", 1)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A real PostgreSQL from the pgserver wheel, deleted after the session, with a
    migrated template database for `fresh_db`."""
    import pgserver

    folder = Path(tempfile.mkdtemp(prefix="connector-pg-"))
    server = pgserver.get_server(folder / "pgdata", cleanup_mode="delete")
    try:
        url = server.get_uri()
        settings = [f"ALTER SYSTEM SET {k} = {v}" for k, v in TEST_SERVER_SETTINGS.items()]
        _admin(url, *settings, "SELECT pg_reload_conf()", f'CREATE DATABASE "{TEMPLATE_DB}"')
        migrate.migrate(database_url(url, TEMPLATE_DB))
        yield url
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def new_database(pg_url: str) -> str:
    """A new migrated database on the session's server (a copy of its template); its URL."""
    import uuid

    name = f"t_{uuid.uuid4().hex[:12]}"
    _admin(pg_url, f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"')
    return database_url(pg_url, name)


def drop_database(pg_url: str, url: str) -> None:
    name = url.split("?", 1)[0].rsplit("/", 1)[1]
    _admin(pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fresh_db(pg_url: str) -> Iterator[str]:
    """A new, empty, migrated database on the session's server."""
    url = new_database(pg_url)
    yield url
    drop_database(pg_url, url)


@pytest.fixture
def store(fresh_db: str) -> Iterator[Store]:
    s = Store(fresh_db)
    yield s
    s.close()


@pytest.fixture
def master_key(monkeypatch: pytest.MonkeyPatch) -> str:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("CONNECTOR_MASTER_KEY", key)
    return key


@pytest.fixture
def db_env(fresh_db: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point CONNECTOR_DATABASE_URL at the fresh database for code that reads the env."""
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", fresh_db)
    return fresh_db


@pytest.fixture(autouse=True)
def _no_project_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never touch the developer's .dagster_home, nor read the .env that a
    running `make dev` wrote."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    os.makedirs(tmp_path / "dagster_home", exist_ok=True)
    monkeypatch.setenv("CONNECTOR_ENV_FILE", str(tmp_path / "no.env"))
    # A CLI command run in-process forbids starting the embedded server for the rest of
    # the process (`db.never_start_embedded`); each test starts from the default.
    monkeypatch.setattr(db, "_may_start_embedded", True)


@pytest.fixture(autouse=True)
def _no_leftover_defs_state_storage() -> Iterator[None]:
    """Each test loads the definitions afresh. An instance entered and never exited
    (e.g. by an evaluation context not used as a `with` block) leaves its defs-state
    storage as the current one, holding a weak reference to the instance: a later
    load in the same worker fails with `undefined DagsterInstance weakref`."""
    from dagster._core.storage.defs_state.base import _current_storage

    yield
    _current_storage.set(None)


FLOW_SETTINGS = {"st_purchase_orders": {"manual_order_no": True}}
"""Settings of the sandbox connection's flows (every flow there is runs on it) that
differ from the defaults."""

SANDBOX_CLOCK = "2026-11-16T00:00:00Z"

# The sandbox connection's lease bound, short so that a run after a crash waits
# seconds, not minutes, for the dead step's leases: lease 6 s, renewed every 1 s (3 s
# lapsed under a load average of 14 on 2 cores: renewals starved and the fence stopped
# the writes); requests answered within 1 + 1 + TIMEOUT_S s on the loopback simulators.
LEASE_TTL_S = 6
LEASE_RENEW_S = 1
TIMEOUT_S = 4
IFS_RATE_PER_MIN = 60_000
ST_RATE_PER_S = 1_000
"""The sandbox's request ceilings, on both sides (the simulators and the connection):
far above a tenant's (1,000 a minute, 60 a second), so that a period's writes are
paced by the simulators on loopback, not by the limiter, and take seconds, not minutes.
A write that a test kills mid-way runs at a tenant's (`support.start_write`), and
tests of the ceilings themselves run simulators of their own."""


@pytest.fixture(scope="session")
def sandbox() -> Iterator[dict]:
    """Both simulators in a child process on free ports; yields their description.

    Their clock is a fixed instant in the past, so the seed is the same whatever day
    the suite runs and no seeded record is dated after the real time at which the
    connector writes (its look-ups search by creation time)."""
    from connector_dagster.sandbox.server import SandboxConfig, SandboxProcess

    config = SandboxConfig(
        ifs_port=0,
        st_port=0,
        now=SANDBOX_CLOCK,
        ifs_rate_per_min=IFS_RATE_PER_MIN,
        st_rate_per_s=ST_RATE_PER_S,
    )
    with SandboxProcess(config) as proc:
        yield proc.info


def _reset(info: dict) -> None:
    import httpx

    for base in (info["ifs"]["base_url"], info["servicetitan"]["api_url"]):
        httpx.post(f"{base}/_sandbox/reset", timeout=60).raise_for_status()


@pytest.fixture
def sandbox_connection(
    sandbox: dict, db_env: str, master_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict]:
    """A reset sandbox, a connections file named `sandbox` pointing at it, its
    credentials in the vault of a fresh database. Yields the sandbox description."""
    from connector_dagster.lib.settings import PROJECT_ROOT

    _reset(sandbox)
    ifs, st = sandbox["ifs"], sandbox["servicetitan"]
    path = tmp_path / "connections.yaml"
    path.write_text(
        f"""connections:
  sandbox:
    timezone: America/Los_Angeles
    mappings: {PROJECT_ROOT / "connector_dagster/mappings/sandbox.yaml"}
    flows:
{_flow_lines()}
    leases: {{ttl_s: {LEASE_TTL_S}, renew_s: {LEASE_RENEW_S}}}
    ifs: {{base_url: "{ifs["base_url"]}", realm: {ifs["realm"]}, connect_timeout_s: 1,
          timeout_s: {TIMEOUT_S}, rate_per_min: {IFS_RATE_PER_MIN}, company: ACME01}}
    servicetitan:
      api_url: "{st["api_url"]}"
      auth_url: "{st["auth_url"]}"
      connect_timeout_s: 1
      timeout_s: {TIMEOUT_S}
      rate_per_s: {ST_RATE_PER_S}
      tenant_id: "{st["tenant_id"]}"
"""
    )
    monkeypatch.setenv("CONNECTOR_CONNECTIONS_FILE", str(path))
    seed_vault(db_env, sandbox)
    yield sandbox


def _flow_lines() -> str:
    """Every flow there is, one line each, with its FLOW_SETTINGS."""
    from connector_dagster.engine import registry

    lines = []
    for name in registry.flows():
        settings = FLOW_SETTINGS.get(name, {})
        inline = ", ".join(f"{key}: {json.dumps(value)}" for key, value in settings.items())
        lines.append(f"      {name}: {{{inline}}}")
    return "\n".join(lines)


def seed_vault(url: str, sandbox: dict) -> None:
    """The sandbox's credentials in the vault of the database at `url`."""
    from connector_dagster.systems.vault import Vault

    store = Store(url)
    vault = Vault(store)
    for field in ("client_id", "client_secret"):
        vault.set("sandbox", "ifs", field, sandbox["ifs"][field])
    for field in ("client_id", "client_secret", "app_key", "webhook_key"):
        vault.set("sandbox", "servicetitan", field, sandbox["servicetitan"][field])
    store.close()


LONGEST_FIRST = (
    "operations/test_ui.py",
    "flows/purchase_orders/test_database_restart.py",
    "flows/invoices/test_database_restart.py",
    "flows/invoices/test_reliability.py",
    "flows/purchase_orders/test_reliability.py",
    "operations/test_dead_run_slots.py",
    "flows/purchase_orders/test_flow.py",
    "flows/st_purchase_orders/test_reliability.py",
    "operations/test_dev_stops.py",
)
"""The modules that take longest (a minute or more on 2 cores), in that order: run
first, so that `pytest -n 4 --dist loadfile` (which hands out whole modules in order)
ends on short modules on every worker rather than on one long one. Order only; a module
left out of the list runs as ever."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(__file__).parent

    def rank(item: pytest.Item) -> int:
        module = item.path.relative_to(root).as_posix() if item.path.is_relative_to(root) else ""
        return LONGEST_FIRST.index(module) if module in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the collection order within and after the list
