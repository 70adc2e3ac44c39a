"""Database URL handling, the embedded server and migrations."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from connector_dagster.lib import db, migrate
from connector_dagster.lib.settings import ConfigError


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql://u:p@h:3306/x", "scheme 'mysql'"),
        ("not a url", "no scheme"),
        ("postgresql://user@:5432/", "no host"),
        ("postgresql://u:p@host:99999/db", "invalid port"),
        ("postgresql://u:p@host:5432", "no database"),
    ],
)
def test_malformed_database_url_is_named(
    url: str, fragment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", url)
    with pytest.raises(ConfigError) as err:
        db.database_url()
    assert "CONNECTOR_DATABASE_URL" in str(err.value)
    assert fragment in str(err.value)


def test_set_database_url_is_used_and_nothing_started(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", pg_url)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    assert db.database_url() == pg_url
    assert not (tmp_path / "pgdata").exists()


def test_unreachable_database_names_the_host_without_password() -> None:
    with pytest.raises(ConfigError) as err:
        db.connect("postgresql://user:s3cret-pw@127.0.0.1:1/x")
    assert "127.0.0.1" in str(err.value)
    assert "s3cret-pw" not in str(err.value)


def test_dagster_url_uses_psycopg2_dialect() -> None:
    assert db.dagster_url("postgresql://u@/d?host=/s") == "postgresql+psycopg2://u@/d?host=/s"
    assert db.dagster_url("postgresql+psycopg2://u@h/d") == "postgresql+psycopg2://u@h/d"


def test_migrations_applied_twice_are_a_noop(fresh_db: str) -> None:
    # fresh_db is migrated already
    assert migrate.migrate(fresh_db) == []
    with db.transaction(fresh_db) as cur:
        cur.execute("SELECT count(*) FROM connector.schema_migrations")
        assert cur.fetchone()[0] == len(migrate.discover())
        cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'connector'"
        )
        tables = {r[0] for r in cur.fetchall()}
    assert {
        "sync_ledger",
        "audit_log",
        "failed_records",
        "webhook_inbox",
        "credentials",
        "mappings",
        "mapping_versions",
        "sync_cursors",
        "schema_migrations",
    } <= tables


def test_concurrent_migrations_do_not_collide(pg_url: str) -> None:
    admin = db.connect(pg_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS concurrent_mig")
        cur.execute("CREATE DATABASE concurrent_mig")
    url = pg_url.replace("/postgres?", "/concurrent_mig?", 1)
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(migrate.migrate(url))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    applied = [r for r in results if r]
    assert len(applied) == 1 and applied[0] == [m.version for m in migrate.discover()]
    with admin.cursor() as cur:
        cur.execute("DROP DATABASE concurrent_mig WITH (FORCE)")
    admin.close()


def test_edited_migration_is_refused(fresh_db: str, tmp_path: Path) -> None:
    folder = tmp_path / "sql"
    folder.mkdir()
    for mig in migrate.discover():
        (folder / mig.path.name).write_bytes(mig.path.read_bytes())
    first = sorted(folder.iterdir())[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(ConfigError, match="forward-only"):
        migrate.migrate(fresh_db, folder)


def test_badly_named_migration_is_refused(tmp_path: Path) -> None:
    (tmp_path / "add-things.sql").write_text("SELECT 1")
    with pytest.raises(ConfigError, match="NNNN_snake_case"):
        migrate.discover(tmp_path)


def test_failed_migration_leaves_nothing_behind(fresh_db: str, tmp_path: Path) -> None:
    for mig in migrate.discover():
        (tmp_path / mig.path.name).write_bytes(mig.path.read_bytes())
    (tmp_path / "9998_good.sql").write_text("CREATE TABLE connector.half (x int);")
    (tmp_path / "9999_bad.sql").write_text("CREATE TABLE connector.oops (x nosuchtype);")
    with pytest.raises(Exception, match="nosuchtype"):
        migrate.migrate(fresh_db, tmp_path)
    with db.transaction(fresh_db) as cur:
        cur.execute("SELECT to_regclass('connector.half')")
        assert cur.fetchone()[0] is None


def test_unset_url_starts_an_embedded_server_under_dagster_home_and_reuses_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import shutil
    import tempfile
    import time

    # Not under pytest's tmp_path: the server runs as another user, and a pytest
    # session starting meanwhile closes pytest's temporary folders to other users.
    tmp_path = Path(tempfile.mkdtemp(prefix="connector-home-"))
    monkeypatch.delenv("CONNECTOR_DATABASE_URL", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    url = db.database_url()
    assert (tmp_path / "pgdata" / "PG_VERSION").exists()
    with db.transaction(url) as cur:
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
    assert db.database_url() == url  # the running server is reused
    assert db.stop_embedded() is True
    deadline = time.monotonic() + 30
    while (tmp_path / "pgdata" / "postmaster.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    with pytest.raises(ConfigError, match="cannot connect"):
        db.connect(url)
    assert db.stop_embedded() is False
    shutil.rmtree(tmp_path, ignore_errors=True)
