"""The code location loads, and Dagster's own validation accepts the workspace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from connector_dagster.lib.settings import PROJECT_ROOT


def test_defs_load() -> None:
    from connector_dagster.definitions import defs

    assert isinstance(defs, dg.Definitions)
    dg.Definitions.validate_loadable(defs)


def test_dagster_definitions_validate_workspace(tmp_path: Path) -> None:
    env = dict(os.environ, DAGSTER_HOME=str(tmp_path))
    dagster = Path(sys.executable).parent / "dagster"
    proc = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dagster_yaml_is_a_valid_postgres_instance_config(tmp_path: Path, pg_url: str) -> None:
    from dagster._core.instance.config import dagster_instance_config

    from connector_dagster.lib import db

    (tmp_path / "dagster.yaml").write_text((PROJECT_ROOT / "dagster.yaml").read_text())
    os.environ["CONNECTOR_DAGSTER_PG_URL"] = db.dagster_url(pg_url)
    try:
        config, _ = dagster_instance_config(str(tmp_path))
        assert config["run_retries"]["retry_on_asset_or_op_failure"] is False
        instance = dg.DagsterInstance.from_config(str(tmp_path))
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        instance.dispose()
    finally:
        del os.environ["CONNECTOR_DAGSTER_PG_URL"]


def test_pools_command_sets_an_explicit_limit_per_api_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connector_dagster.cli import main

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    assert main(["pools", "--limit", "1"]) == 0
    with dg.DagsterInstance.get() as instance:
        for pool in ("servicetitan_1234567", "ifs_127_0_0_1_8571"):
            assert instance.event_log_storage.get_concurrency_info(pool).slot_count == 1
