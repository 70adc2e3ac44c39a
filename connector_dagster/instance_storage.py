"""Dagster's storage for `dagster.yaml`: dagster-postgres on the database named by an
environment variable, and nothing at all where Dagster only checks the definitions.

`postgres_url: {env: VAR}` fails every Dagster command with a long traceback when VAR
is unset, as in a fresh clone before `make dev`. Here `dg check defs` and `dagster
definitions validate` (which need no storage) get a throwaway one, and every other
command stops in one line saying how to set the variable."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from typing import Any

import click
from dagster import Field
from dagster._core.storage.base_storage import DagsterStorage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage
from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage

from connector_dagster.lib.settings import DAGSTER_PG_URL_VAR, ConfigError

VALIDATION_VAR = "DAGSTER_IS_DEFS_VALIDATION_CLI"
"""Set by `dagster definitions validate` and `dg check defs` (their --help says so)."""
DEV_VAR = "DAGSTER_IS_DEV_CLI"
"""Set by `dagster dev` and `dg dev`."""


class StorageNotSet(ConfigError, click.ClickException):
    """The storage's variable is unset: one line, from Dagster's commands (click prints
    `Error: ...`) and from `connector-dagster` alike."""

    def __init__(self, message: str) -> None:
        ConfigError.__init__(self, message)
        click.ClickException.__init__(self, message)

    def __str__(self) -> str:
        return self.message


class ConnectorPostgresStorage(DagsterPostgresStorage):
    """`DagsterPostgresStorage` on the URL in the variable `url_env`."""

    @classmethod
    def config_type(cls) -> dict[str, Field]:
        return {
            "url_env": Field(
                str,
                default_value=DAGSTER_PG_URL_VAR,
                description="the variable holding the URL (postgresql+psycopg2://...)",
            )
        }

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: dict[str, Any]
    ) -> DagsterStorage:
        var = config_value["url_env"]
        url = os.environ.get(var, "").strip()
        if url:
            return cls(postgres_url=url, inst_data=inst_data)
        if os.environ.get(VALIDATION_VAR):
            return _throwaway_storage()
        if os.environ.get(DEV_VAR):
            raise StorageNotSet(
                f"{var} is not set: run `make dev` instead, which starts PostgreSQL and the "
                "sandbox and then runs `dg dev` on them (or set it and the settings of the "
                "README's Settings table)"
            )
        raise StorageNotSet(
            f"{var} is not set: Dagster's storage is the connector's PostgreSQL; run `make dev` "
            "(it starts PostgreSQL and writes .env for every shell of the project), or set it "
            "to postgresql+psycopg2://user:pass@host:5432/db"
        )


def _throwaway_storage() -> DagsterSqliteStorage:
    """SQLite in a temporary folder, removed when the process ends (Dagster keeps the
    parts of the storage, not the storage itself)."""
    folder = tempfile.mkdtemp(prefix="connector-dagster-check-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return DagsterSqliteStorage.from_local(folder)
