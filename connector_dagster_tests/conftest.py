"""Shared fixtures: a throwaway PostgreSQL per test session, migrated, and a master key."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from connector_dagster.lib import db, migrate
from connector_dagster.lib.store import Store


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A real PostgreSQL from the pgserver wheel, deleted after the session."""
    import pgserver

    folder = Path(tempfile.mkdtemp(prefix="connector-pg-"))
    server = pgserver.get_server(folder / "pgdata", cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def fresh_db(pg_url: str) -> Iterator[str]:
    """A new, empty, migrated database on the session's server."""
    import uuid

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = db.connect(pg_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    url = pg_url.replace("/postgres?", f"/{name}?", 1)
    migrate.migrate(url)
    yield url
    admin = db.connect(pg_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


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
    """Tests never touch the developer's .dagster_home."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    os.makedirs(tmp_path / "dagster_home", exist_ok=True)
