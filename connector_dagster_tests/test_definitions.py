"""The code location loads, and Dagster's own validation accepts the workspace."""

from __future__ import annotations

import json
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


def venv_command(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A command of the project's venv, run from the project root with a fresh
    DAGSTER_HOME (an ephemeral instance, as in a fresh clone)."""
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, DAGSTER_HOME=str(tmp_path), VIRTUAL_ENV=str(bin_dir.parent))
    return subprocess.run(
        [str(bin_dir / args[0]), *args[1:]],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_dagster_definitions_validate_workspace(tmp_path: Path) -> None:
    proc = venv_command(tmp_path, "dagster", "definitions", "validate", "-w", "workspace.yaml")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dg_check_defs_passes(tmp_path: Path) -> None:
    proc = venv_command(tmp_path, "dg", "check", "defs")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "All definitions loaded successfully" in proc.stdout + proc.stderr


def code_location_shape(defs: dg.Definitions) -> dict:
    """What the code location defines, per connection: what a reviewer should see change."""
    repo = defs.get_repository_def()
    assets = {}
    for node in repo.asset_graph.asset_nodes:
        assets[node.key.to_user_string()] = {
            "group": node.group_name,
            "tags": {k: v for k, v in node.tags.items() if k.startswith("connector/")},
            "owners": list(node.owners),
            "pool": sorted(node.pools) if node.pools else None,
            "kinds": sorted(node.kinds),
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "partitions": type(node.partitions_def).__name__ if node.partitions_def else None,
            "checks": sorted(
                f"{c.name}{' (blocking)' if c.blocking else ''}"
                for c in (repo.asset_graph.get_check_spec(k) for k in node.check_keys)
            ),
        }
    return {
        "assets": assets,
        "jobs": {j.name: dict(j.tags) for j in repo.get_all_jobs() if not j.name.startswith("__")},
        "schedules": {
            s.name: {
                "job": s.job_name,
                "cron": s.cron_schedule,
                "timezone": s.execution_timezone,
                "status": s.default_status.value,
            }
            for s in repo.schedule_defs
        },
        "sensors": sorted(s.name for s in repo.sensor_defs),
        "resources": sorted(repo.get_top_level_resources()),
    }


SNAPSHOT = Path(__file__).parent / "snapshots" / "code_location.json"


def test_code_location_shape_matches_its_snapshot(monkeypatch: pytest.MonkeyPatch) -> None:
    """A change to what the code location defines shows in review as a change to the
    snapshot. After an intended change: UPDATE_SNAPSHOTS=1 pytest -k snapshot. Built
    afresh from the project's connections file: the module's `defs` holds whichever
    file was in force when an earlier test of the process first imported it."""
    from connector_dagster.definitions import build_defs

    monkeypatch.delenv("CONNECTOR_CONNECTIONS_FILE", raising=False)
    defs = build_defs()
    shape = json.loads(json.dumps(code_location_shape(defs), sort_keys=True))
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(json.dumps(shape, indent=2, sort_keys=True) + "\n")
    assert shape == json.loads(SNAPSHOT.read_text())


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
