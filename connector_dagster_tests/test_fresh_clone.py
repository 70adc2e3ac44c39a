"""Dagster's own commands in a fresh clone with nothing running: no `.env`, no
DAGSTER_HOME, none of the connector's variables. Checking the definitions needs no
storage and passes; a command that needs Dagster's storage says in one line to run
`make dev`, with no traceback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from connector_dagster.lib.settings import PROJECT_ROOT

CLONED = ("pyproject.toml", "workspace.yaml", "dagster.yaml", "connections.yaml", "sql")
COMMAND_BOUND_S = 300  # a loaded machine; the commands end in seconds


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """The project's files as a clone has them, without `.env` or `.dagster_home`."""
    root = tmp_path / "clone"
    root.mkdir()
    for name in CLONED:
        source = PROJECT_ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name)
        else:
            shutil.copy(source, root / name)
    shutil.copytree(
        PROJECT_ROOT / "connector_dagster",
        root / "connector_dagster",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return root


def run_in(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A command of the project's venv, run in `root` with the connector's and Dagster's
    variables removed."""
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONNECTOR_", "DAGSTER_"))}
    env["VIRTUAL_ENV"] = str(bin_dir.parent)
    return subprocess.run(
        [str(bin_dir / args[0]), *args[1:]],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_BOUND_S,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def left_behind(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith((".tmp_dagster", ".env")))


@pytest.mark.parametrize(
    "command",
    [("dg", "check", "defs"), ("dagster", "definitions", "validate", "-w", "workspace.yaml")],
    ids=["dg check defs", "dagster definitions validate"],
)
def test_checking_the_definitions_needs_no_database(clone: Path, command: tuple[str, ...]) -> None:
    proc = run_in(clone, *command)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "Traceback" not in output
    assert "CONNECTOR_DAGSTER_PG_URL" not in output
    assert left_behind(clone) == []


@pytest.mark.parametrize(
    "command",
    [
        ("dg", "dev", "--port", "{port}"),
        ("dagster", "dev", "--port", "{port}"),
        ("dg", "launch", "--assets", "sandbox/ifs_purchase_orders", "--partition", "2026-10-01"),
    ],
    ids=["dg dev", "dagster dev", "dg launch"],
)
def test_a_command_that_needs_the_storage_says_in_one_line_to_run_make_dev(
    clone: Path, command: tuple[str, ...]
) -> None:
    port = str(free_port())
    proc = run_in(clone, *(port if arg == "{port}" else arg for arg in command))
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert "Traceback" not in output
    said = [line for line in output.splitlines() if "CONNECTOR_DAGSTER_PG_URL" in line]
    assert len(said) == 1, output
    assert "make dev" in said[0]
    assert len(output.splitlines()) <= 6, output  # Dagster's own notes and that line
    assert left_behind(clone) == []
    with socket.socket() as sock:  # nothing serves on the port
        assert sock.connect_ex(("127.0.0.1", int(port))) != 0
