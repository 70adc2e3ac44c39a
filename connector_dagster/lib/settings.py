"""Environment settings: where the database, the Dagster home and the master key come from."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]

DATABASE_URL_VAR = "CONNECTOR_DATABASE_URL"
MASTER_KEY_VAR = "CONNECTOR_MASTER_KEY"
CONNECTIONS_FILE_VAR = "CONNECTOR_CONNECTIONS_FILE"
DAGSTER_PG_URL_VAR = "CONNECTOR_DAGSTER_PG_URL"
SQL_DIR_VAR = "CONNECTOR_SQL_DIR"


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it and says what to do."""


def dagster_home() -> Path:
    """`$DAGSTER_HOME`, else the project-local `.dagster_home` (git-ignored)."""
    return Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / ".dagster_home")


def sql_dir() -> Path:
    return Path(os.environ.get(SQL_DIR_VAR) or PROJECT_ROOT / "sql")
