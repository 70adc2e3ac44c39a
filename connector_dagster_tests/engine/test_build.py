"""The builder: any flow spec becomes each connection's assets, check, job and
schedules; adding a flow is adding one folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from connector_dagster.engine import connections
from connector_dagster.engine.build import build
from connector_dagster.engine.resources import ConnectionResource
from connector_dagster.engine.session import Session
from connector_dagster.engine.snapshots import SnapshotIOManager
from connector_dagster.lib.settings import PROJECT_ROOT
from connector_dagster.lib.store import RecordRef, Store
from connector_dagster_tests.engine.example_flow import spec as example

EXAMPLE_DIR = Path(example.__file__).parent


def sandbox_connection() -> connections.Connection:
    conn = connections.load(PROJECT_ROOT / "connections.yaml")["sandbox"]
    return conn.model_copy(update={"flows": {"example_notes": example.ExampleSettings()}})


def test_a_spec_becomes_read_assets_with_checks_a_write_asset_a_job_and_schedules() -> None:
    conn = sandbox_connection()
    defs = build(example.SPEC, conn)
    [assets] = defs.assets
    keys = {k.to_user_string() for k in assets.keys}
    assert keys == {"sandbox/source_notes", "sandbox/target_notes"}
    # One graph, never split: selecting the write asset alone brings its read.
    assert not assets.can_subset
    [check] = assets.check_specs
    assert (check.name, check.blocking) == ("pandera_schema", True)
    assert check.asset_key.to_user_string() == "sandbox/source_notes"
    assert check.partitions_def == assets.partitions_def  # evaluated per period
    pools = {node.name: node.definition.pool for node in assets.node_def.nodes}
    assert pools == {"source_notes": conn.pool("ifs"), "target_notes": conn.pool("servicetitan")}
    write = next(n for n in assets.node_def.nodes if n.name == "target_notes")
    assert set(write.definition.input_dict) == {"source_notes"}
    assert "sandbox_connection" in assets.required_resource_keys
    assert [j.name for j in defs.jobs] == ["sandbox_example_notes_job"]
    assert [s.name for s in defs.schedules] == ["sandbox_example_notes_poll_schedule"]
    partitions = assets.partitions_def
    assert isinstance(partitions, dg.MonthlyPartitionsDefinition)
    assert partitions.timezone == conn.timezone


class ExampleConnection(ConnectionResource):
    """The sandbox connection with the example flow switched on."""

    def session(self) -> Session:
        if self._link is None:
            self._link = Session(
                sandbox_connection(),
                Store(os.environ["CONNECTOR_DATABASE_URL"]),
                owns_store=True,
            )
        return self._link


def test_the_engine_runs_any_flow_through_the_write_protocol(db_env: str) -> None:
    example.WRITTEN.clear()
    defs = build(example.SPEC, sandbox_connection())
    resources = {
        "sandbox_connection": ExampleConnection(connection="sandbox"),
        "io_manager": SnapshotIOManager(),
    }

    def run() -> dg.ExecuteInProcessResult:
        with dg.instance_for_test() as instance:
            return dg.materialize(
                [*defs.assets], partition_key="2026-10-01", resources=resources, instance=instance
            )

    first = run()
    assert first.success
    assert sorted(n["source"] for n in example.WRITTEN.values()) == ["N-1", "N-2"]
    [write] = [
        m for m in first.get_asset_materialization_events() if "target" in m.asset_key.path[-1]
    ]
    assert write.materialization.metadata["created"].value == 2

    second = run()
    [write] = [
        m for m in second.get_asset_materialization_events() if "target" in m.asset_key.path[-1]
    ]
    assert write.materialization.metadata["skipped"].value == 2
    assert len(example.WRITTEN) == 2
    store = Store(db_env)
    trail = store.audit_trail(RecordRef("sandbox", "example_notes", "N-1"))
    # The second read found N-1 as the first had: the audit keeps changes only.
    assert [a["action"] for a in trail] == ["read", "intent", "create"]
    store.close()


def test_adding_a_flow_is_one_new_folder(tmp_path: Path) -> None:
    """A copy of the project plus one folder under defs/: the code location and the
    flow registry both find the new flow, and no other file of the copy differs."""
    project = tmp_path / "project"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    package = project / "connector_dagster"
    shutil.copytree(PROJECT_ROOT / "connector_dagster", package, ignore=ignore)
    for name in ("pyproject.toml", "connections.yaml", "workspace.yaml"):
        shutil.copy(PROJECT_ROOT / name, project / name)
    folder = package / "defs" / "example_notes"
    shutil.copytree(EXAMPLE_DIR, folder, ignore=ignore)

    changed = [
        str(p.relative_to(project))
        for p in project.rglob("*")
        if p.is_file()
        and folder not in p.parents
        and p.read_bytes() != (PROJECT_ROOT / p.relative_to(project)).read_bytes()
    ]
    assert changed == []

    conns = tmp_path / "connections.yaml"
    text = (PROJECT_ROOT / "connections.yaml").read_text()
    conns.write_text(text.replace("    flows:", "    flows:\n      example_notes: {prefix: hi}", 1))
    script = """
import json
from connector_dagster.definitions import defs
from connector_dagster.engine import registry
print(json.dumps({
    "assets": sorted(k.to_user_string() for a in defs.assets for k in a.keys),
    "jobs": sorted(j.name for j in defs.jobs),
    "schedules": sorted(s.name for s in defs.schedules),
    "flows": sorted(registry.flows()),
    "tables": [t.kind for t in registry.tables()],
}))
"""
    env = dict(os.environ, PYTHONPATH=str(project), CONNECTOR_CONNECTIONS_FILE=str(conns))
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=project, env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"sandbox/source_notes", "sandbox/target_notes"} <= set(found["assets"])
    assert "sandbox/servicetitan_purchase_orders" in found["assets"]
    assert "sandbox_example_notes_job" in found["jobs"]
    assert "sandbox_example_notes_poll_schedule" in found["schedules"]
    assert {"example_notes", "purchase_orders"} <= set(found["flows"])
    assert "note_kinds" in found["tables"]


@pytest.mark.parametrize("enabled", [True, False])
def test_a_flow_runs_only_where_the_connection_switches_it_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, enabled: bool
) -> None:
    from connector_dagster.definitions import build_defs

    text = (PROJECT_ROOT / "connections.yaml").read_text()
    path = tmp_path / "connections.yaml"
    path.write_text(
        text.replace(
            "      purchase_orders:\n", f"      purchase_orders:\n        enabled: {enabled}\n"
        )
    )
    monkeypatch.setenv("CONNECTOR_CONNECTIONS_FILE", str(path))
    keys = {k.to_user_string() for a in build_defs().assets for k in a.keys}
    assert ("sandbox/servicetitan_purchase_orders" in keys) is enabled
