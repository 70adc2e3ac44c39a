"""A third system is one package, and a flow on it one folder: in a copy of the project
with `systems/toy/` and `defs/toy_notes/` added and no other file changed, the
connections file takes a `toy:` block, the vault its credential, the pools its host,
and the flow syncs a period through the write protocol exactly once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from connector_dagster.lib.settings import PROJECT_ROOT

TOY = Path(__file__).parent / "toy"

SCRIPT = """
import json, os
from connector_dagster_tests.engine.toy.simulator import ToyService

service = ToyService(token="t0ken")
text = open(os.environ["TOY_CONNECTIONS_TEMPLATE"]).read().replace("TOY_URL", service.url)
open(os.environ["CONNECTOR_CONNECTIONS_FILE"], "w").write(text)

import dagster as dg
from connector_dagster import systems
from connector_dagster.definitions import defs
from connector_dagster.defs.resources import build_resources
from connector_dagster.engine import registry
from connector_dagster.lib.store import Store
from connector_dagster.systems.vault import Vault
store = Store(os.environ["CONNECTOR_DATABASE_URL"])
Vault(store).set("sandbox", "toy", "api_token", "t0ken")
store.close()
conn = registry.connection("sandbox")
toy_assets = [a for a in defs.assets if any(k.path[-1] == "toy_copies" for k in a.keys)]
checks = [
    c for c in defs.asset_checks if any(k.asset_key.path[-1] == "toy_notes" for k in c.check_keys)
]
outcomes = []
for _ in range(2):
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [*toy_assets, *checks], partition_key="2026-10-01",
            resources=build_resources(), instance=instance,
        )
    [write] = [m for m in result.get_asset_materialization_events()
               if m.asset_key.path[-1] == "toy_copies"]
    meta = write.materialization.metadata
    outcomes.append({k: meta[k].value for k in ("created", "skipped") if k in meta})
print(json.dumps({
    "systems": list(systems.names()),
    "pool": conn.pool("toy"),
    "op_pools": sorted({o.pool for a in toy_assets for o in a.node_def.iterate_op_defs()}),
    "copies": sorted(c["source"] for c in service.copies.values()),
    "posts": sum(c == "POST /copies" for c in service.calls),
    "outcomes": outcomes,
    "jobs": sorted(j.name for j in defs.jobs if "toy" in j.name),
}))
"""


def test_a_third_system_is_one_package_and_its_flow_one_folder(
    tmp_path: Path, db_env: str, master_key: str
) -> None:
    project = tmp_path / "project"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    package = project / "connector_dagster"
    shutil.copytree(PROJECT_ROOT / "connector_dagster", package, ignore=ignore)
    for name in ("pyproject.toml", "connections.yaml", "workspace.yaml"):
        shutil.copy(PROJECT_ROOT / name, project / name)
    added = [package / "systems" / "toy", package / "defs" / "toy_notes"]
    shutil.copytree(TOY / "system", added[0], ignore=ignore)
    shutil.copytree(TOY / "flow", added[1], ignore=ignore)

    changed = [
        str(p.relative_to(project))
        for p in project.rglob("*")
        if p.is_file()
        and not any(folder in p.parents for folder in added)
        and p.read_bytes() != (PROJECT_ROOT / p.relative_to(project)).read_bytes()
    ]
    assert changed == []

    text = (PROJECT_ROOT / "connections.yaml").read_text()
    mappings = PROJECT_ROOT / "connector_dagster" / "mappings" / "sandbox.yaml"
    text = text.replace("connector_dagster/mappings/sandbox.yaml", str(mappings), 1)
    text = text.replace("    ifs:\n", "    toy:\n      base_url: TOY_URL\n    ifs:\n", 1)
    text = text.replace("    flows:", "    flows:\n      toy_notes: {prefix: hi}", 1)
    template = tmp_path / "connections.template.yaml"
    template.write_text(text)
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(project), str(PROJECT_ROOT)]),
        CONNECTOR_CONNECTIONS_FILE=str(tmp_path / "connections.yaml"),
        TOY_CONNECTIONS_TEMPLATE=str(template),
    )
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=project, env=env, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["systems"] == ["ifs", "servicetitan", "toy"]
    assert found["pool"].startswith("toy_127_0_0_1_")
    assert found["op_pools"] == [found["pool"]]
    assert found["copies"] == ["N-1", "N-2"]
    assert found["posts"] == 2
    assert found["outcomes"] == [{"created": 2, "skipped": 0}, {"created": 0, "skipped": 2}]
    assert found["jobs"] == ["sandbox_toy_notes_job"]
