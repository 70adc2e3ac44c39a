"""Forward-only schema migrations from `sql/`, applied once, safe to run concurrently."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from connector_dagster.lib.db import transaction
from connector_dagster.lib.settings import ConfigError, sql_dir

_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Any constant works; it only has to be the same for every migrating process.
_LOCK_ID = 7_245_001


@dataclass(frozen=True)
class Migration:
    version: str
    path: Path

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(directory: Path | None = None) -> list[Migration]:
    directory = directory or sql_dir()
    if not directory.is_dir():
        raise ConfigError(f"migrations folder {directory} does not exist")
    found: list[Migration] = []
    for path in sorted(directory.iterdir()):
        if path.suffix != ".sql":
            continue
        m = _FILE.match(path.name)
        if not m:
            raise ConfigError(f"{path}: migration files are named NNNN_snake_case.sql")
        found.append(Migration(m.group(1), path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ConfigError(f"{directory}: two migration files share a version number")
    return found


def migrate(url: str, directory: Path | None = None) -> list[str]:
    """Apply the migrations not yet applied; return the versions applied now.

    All of it runs in one transaction under an advisory lock, so two processes
    migrating at once serialise and the second finds nothing to do.
    """
    migrations = discover(directory)
    with transaction(url) as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
        cur.execute("CREATE SCHEMA IF NOT EXISTS connector")
        cur.execute(
            """CREATE TABLE IF NOT EXISTS connector.schema_migrations (
                    version text PRIMARY KEY,
                    name text NOT NULL,
                    checksum text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        cur.execute("SELECT version, name, checksum FROM connector.schema_migrations")
        applied = {v: (n, c) for v, n, c in cur.fetchall()}
        done: list[str] = []
        for mig in migrations:
            if mig.version in applied:
                name, checksum = applied[mig.version]
                if checksum != mig.checksum:
                    raise ConfigError(
                        f"{mig.path} changed after it was applied as {name}; migrations are "
                        "forward-only: add a new numbered file instead"
                    )
                continue
            cur.execute(mig.path.read_text(encoding="utf-8"))
            cur.execute(
                "INSERT INTO connector.schema_migrations (version, name, checksum) "
                "VALUES (%s, %s, %s)",
                (mig.version, mig.path.name, mig.checksum),
            )
            done.append(mig.version)
        return done
