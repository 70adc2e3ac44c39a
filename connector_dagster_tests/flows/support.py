"""Running any flow's steps for a period outside Dagster, in this process or in a child
process that can be killed: the same engine functions the assets call."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import httpx

from connector_dagster.defs.resources import build_resources
from connector_dagster.engine import flow, registry
from connector_dagster.engine.build import build
from connector_dagster.engine.records import Frames, Period
from connector_dagster.engine.session import Session
from connector_dagster.lib.settings import PROJECT_ROOT

WRITE_SCRIPT = """
import json, os, sys, time
from connector_dagster_tests.flows.support import read_all
import dagster as dg

from connector_dagster.defs.resources import build_resources
from connector_dagster.engine import flow, registry
from connector_dagster.engine.build import build
from connector_dagster.engine.records import Period
from connector_dagster.engine.session import Session

spec = registry.flow(sys.argv[1])
with Session.open("sandbox") as session:
    reads = read_all(spec.name, session, Period.parse(sys.argv[2]))
    print("read", flush=True)
    while os.environ.get("GO_FILE") and not os.path.exists(os.environ["GO_FILE"]):
        time.sleep(0.01)
    result = flow.write(spec, session, sys.argv[2], reads)
    print(json.dumps(result.report.counts()), flush=True)
"""


def defs(flow_name: str) -> dg.Definitions:
    """The sandbox connection's definitions of one flow, with their resources."""
    spec = registry.flow(flow_name)
    return dg.Definitions.merge(
        dg.Definitions(resources=build_resources()), build(spec, registry.connection("sandbox"))
    )


def materialize(
    flow_name: str, key: str, selection: str | None = None
) -> dg.ExecuteInProcessResult:
    """One period of a flow's assets and checks through Dagster (all, or `selection`),
    on a throwaway in-memory instance; a failure is returned, not raised."""
    d = defs(flow_name)
    with dg.DagsterInstance.ephemeral() as instance:
        return dg.materialize(
            [*d.assets, *d.asset_checks],
            partition_key=key,
            resources=build_resources(),
            instance=instance,
            raise_on_error=False,
            selection=selection,
        )


def read_then_write(flow_name: str, key: str, between: Callable[[], object]) -> flow.WriteResult:
    """The flow's read step and its write step for a period, with `between` run in the
    gap (a record changed meanwhile): what a write step re-executed from failure, after
    an earlier read, does. The flow's assets are one graph, so Dagster never runs its
    write without its read in one run."""
    spec = registry.flow(flow_name)
    with Session.open("sandbox") as session:
        reads = read_all(flow_name, session, Period.parse(key))
        between()
        return flow.write(spec, session, key, reads)


def read_all(flow_name: str, session: Session, when: Period) -> dict[str, Frames]:
    """Every read step of the flow for the period, in order: the engine's own."""
    return flow.read_period(registry.flow(flow_name), session, when)


def write_in_process(flow_name: str, key: str) -> dict[str, int]:
    """Read and write the period through the flow; the write's counts."""
    spec = registry.flow(flow_name)
    with Session.open("sandbox") as session:
        reads = read_all(flow_name, session, Period.parse(key))
        return flow.write(spec, session, key, reads).report.counts()


def sync_first(
    flow_name: str,
    key: str,
    target: Callable[[Session, Any], Any],
    pick: Callable[[Any], bool] = lambda record: True,
) -> None:
    """The period's first record to create (that `pick` accepts), synced by one worker
    through `target(session, settings)`: what a crash script runs, with a target that ends
    its process on purpose."""
    spec = registry.flow(flow_name)
    session = Session.open("sandbox")
    settings = flow.settings_of(spec, session)
    items = spec.source(session, settings).items(read_all(flow_name, session, Period.parse(key)))
    records = [
        r
        for r in flow.to_records(spec, items, session.mappings(), settings, key)
        if r.problem is None and r.op == "upsert" and pick(r)
    ][:1]
    flow.syncer(spec, session, target(session, settings), workers=1).run(records)


def crash(script: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`script` run in a child process that must end with exit code 9 (its target's
    `os._exit(9)`); its output."""
    proc = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120,
        env=dict(os.environ, **env), cwd=PROJECT_ROOT, check=False,
    )  # fmt: skip
    assert proc.returncode == 9, proc.stderr[-2000:]
    return proc


def start_write(
    flow_name: str, key: str, go_file: Path | None = None, tenant_pace: bool = False
) -> subprocess.Popen[str]:
    """The flow's read and write of a period in a child process; it prints `read` once
    the period is read and, with `go_file`, writes only once that file exists. With
    `tenant_pace`, at a tenant's request ceilings rather than the sandbox's raised ones:
    a write a test kills after some creates is still going when it does."""
    env = dict(os.environ, GO_FILE=str(go_file or ""))
    if tenant_pace:
        env["CONNECTOR_CONNECTIONS_FILE"] = str(_tenant_paced())
    return subprocess.Popen(
        [sys.executable, "-c", WRITE_SCRIPT, flow_name, key],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
    )


def faults(base: str, **profile: object) -> None:
    """Set the fault profile of the simulator at `base` (none: a clean one)."""
    httpx.put(f"{base}/_sandbox/faults", json=profile, timeout=10).raise_for_status()


def overlapping_writes(
    flow_name: str, key: str, target_base: str, creates_path: str, tmp_path: Path
) -> list[tuple[int, str, str]]:
    """Two writes of one period at once (a pool limit of 2, or two machines), that
    overlap whatever the machine's load: both read, then both are let go together
    while the target simulator holds every create (a POST to a path containing
    `creates_path`) until one run has ended. The run that took the records' leases
    waits in its first creates; the other finds them leased and ends. (return code,
    stdout, stderr) of each."""
    go, hold = tmp_path / "go", tmp_path / "hold"
    hold.touch()
    profile = {"latency_ms": 20, "methods": ["POST"], "hold_while_file": str(hold),
               "hold_path_part": creates_path}  # fmt: skip
    faults(target_base, **profile)
    try:
        runs = [start_write(flow_name, key, go) for _ in range(2)]
        for proc in runs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "read"
        go.touch()
        deadline = time.monotonic() + 240
        while all(proc.poll() is None for proc in runs):
            assert time.monotonic() < deadline, "neither run ended while the creates were held"
            time.sleep(0.05)
    finally:
        hold.unlink(missing_ok=True)
        faults(target_base)
    outs = [proc.communicate(timeout=300) for proc in runs]
    return [(proc.returncode, out, err) for proc, (out, err) in zip(runs, outs, strict=True)]


def _tenant_paced() -> Path:
    """A copy of the test's connections file without the sandbox's raised ceilings, so
    that a tenant's (the defaults) apply."""
    from connector_dagster_tests.conftest import IFS_RATE_PER_MIN, ST_RATE_PER_S

    path = Path(os.environ["CONNECTOR_CONNECTIONS_FILE"])
    text = path.read_text()
    for setting in (f", rate_per_min: {IFS_RATE_PER_MIN}", f"\n      rate_per_s: {ST_RATE_PER_S}"):
        assert setting in text, f"{path} has no {setting.split()[-2]} line"
        text = text.replace(setting, "")
    paced = path.with_name(f"tenant-paced-{path.name}")
    paced.write_text(text)
    return paced
