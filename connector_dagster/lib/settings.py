"""Environment settings: where the database, the Dagster home and the master key come from,
and the project's `.env` (written by `make dev`) that other shells load."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]

DATABASE_URL_VAR = "CONNECTOR_DATABASE_URL"
MASTER_KEY_VAR = "CONNECTOR_MASTER_KEY"
CONNECTIONS_FILE_VAR = "CONNECTOR_CONNECTIONS_FILE"
DAGSTER_PG_URL_VAR = "CONNECTOR_DAGSTER_PG_URL"
SQL_DIR_VAR = "CONNECTOR_SQL_DIR"
ENV_FILE_VAR = "CONNECTOR_ENV_FILE"
ALERT_WEBHOOK_VAR = "CONNECTOR_ALERT_WEBHOOK_URL"
UI_URL_VAR = "CONNECTOR_DAGSTER_UI_URL"
"""Where Dagster's UI answers (`make dev` sets it): a run's outcome line links the run."""

ENV_FILE_HEADER = "# Written by `connector-dagster dev` (make dev)"
"""The first line of a `.env` that `connector-dagster dev` wrote and may rewrite or remove."""

HOW_TO_SET = "run `make dev` (it writes .env for every shell of the project) or set it yourself"


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it and says what to do."""


def dagster_home() -> Path:
    """`$DAGSTER_HOME`, else the project-local `.dagster_home` (git-ignored)."""
    return Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / ".dagster_home")


def sql_dir() -> Path:
    return Path(os.environ.get(SQL_DIR_VAR) or PROJECT_ROOT / "sql")


def env_file() -> Path:
    """The `.env` at the project root (or `$CONNECTOR_ENV_FILE`)."""
    return Path(os.environ.get(ENV_FILE_VAR) or PROJECT_ROOT / ".env")


def load_env_file(path: Path | None = None) -> list[str]:
    """Set this process's variables from the `.env` file, if there is one; returns the
    names set. Its values win over the shell's, as they do in Dagster's commands, so
    that both point at the same database."""
    from dotenv import dotenv_values

    path = path or env_file()
    if not path.is_file():
        return []
    values = {k: v for k, v in dotenv_values(path).items() if v is not None}
    os.environ.update(values)
    return sorted(values)


def require(var: str, what: str) -> str:
    """The value of `var`; a one-line ConfigError naming it and how to set it when unset."""
    value = os.environ.get(var, "").strip()
    if not value:
        raise ConfigError(f"{var} is not set: it holds {what}; {HOW_TO_SET}")
    return value


def run_link(run_id: str) -> str:
    """A run's page in Dagster's UI when its address is known (`$CONNECTOR_DAGSTER_UI_URL`),
    else the run's id."""
    ui = (os.environ.get(UI_URL_VAR) or "").rstrip("/")
    return f"{ui}/runs/{run_id}" if ui else run_id
