"""Dagster's own processes for tests: a workspace file that keeps them out of the project
folder, and the webserver and daemon in process groups of their own.

Dagster's commands and code servers load `.env` from the folder they run in, and its
values win over the environment: run in the project root, they would read the `.env` of
a developer's running `make dev` and use its database. Tests run them elsewhere."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

LOCATION = "connector_dagster"
BIN = Path(sys.executable).parent


def workspace(folder: Path) -> Path:
    """A workspace.yaml like the project's, its code server working in `folder`."""
    path = folder / "workspace.yaml"
    path.write_text(
        "load_from:\n  - python_module:\n      module_name: connector_dagster.definitions\n"
        f"      location_name: {LOCATION}\n      working_directory: {folder}\n"
    )
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, probe: Callable[[], Any], timeout_s: float = 240.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


@contextmanager
def service(cmd: list[str], folder: Path, env: dict[str, str], log: Path) -> Iterator[None]:
    """A long-running Dagster command in `folder`, in a process group of its own that is
    ended with it (its code servers and run workers too)."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd, cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            yield
        finally:
            stop_group(proc)


def stop_group(proc: subprocess.Popen[bytes], grace_s: float = 30.0) -> None:
    """SIGTERM to the process group, then SIGKILL to whatever of it is left after
    `grace_s` (a code server may outlive the process that started it)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and _group_alive(proc):
            time.sleep(0.2)
    proc.wait(grace_s)


def _group_alive(proc: subprocess.Popen[bytes]) -> bool:
    proc.poll()  # reap the leader, so that a zombie does not keep the group alive
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return False
    return True


@contextmanager
def webserver_and_daemon(folder: Path, env: dict[str, str]) -> Iterator[str]:
    """`dagster-webserver` and `dagster-daemon run` on the workspace in `folder`, as in
    production; yields the webserver's base URL once it answers."""
    ws = workspace(folder)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    webserver = [str(BIN / "dagster-webserver"), "-w", str(ws), "-h", "127.0.0.1", "-p", str(port)]
    daemon = [str(BIN / "dagster-daemon"), "run", "-w", str(ws)]
    with (
        service(webserver, folder, env, folder / "webserver.log"),
        service(daemon, folder, env, folder / "daemon.log"),
    ):
        wait_for("the webserver to answer", lambda: _answers(f"{base}/server_info"))
        yield base


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).is_success
    except httpx.HTTPError:
        return False
