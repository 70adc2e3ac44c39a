"""Runs both simulators with uvicorn and reports where they listen.

Each simulator's `app` module (`ifs.app`, `servicetitan.app`) exposes
`create_app(config: SandboxConfig, profile: FaultProfile) -> Starlette`; the
app keeps its state on `app.state` and wraps itself with
`faults.SandboxMiddleware` (reachable as `app.state.sandbox`).
`Sandbox` starts both apps on loopback, in this process (threads) or in a
child process (`connector-dagster sandbox`), and describes them with the JSON
line that clients and `make dev` read.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import uvicorn

from connector_dagster.sandbox.config import SandboxConfig
from connector_dagster.sandbox.faults import ConnectionDropped, FaultProfile
from connector_dagster.sandbox.ifs import app as ifs
from connector_dagster.sandbox.servicetitan import app as servicetitan

__all__ = ["Sandbox", "SandboxConfig", "SandboxProcess", "load_profiles", "running", "serve"]


class _QuietInjectedResets(logging.Filter):
    """Injected connection resets are the sandbox working, not failing: no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ConnectionDropped)


logging.getLogger("uvicorn.error").addFilter(_QuietInjectedResets())


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class _Server(threading.Thread):
    def __init__(self, app: Any, sock: socket.socket) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        cfg = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(cfg)

    def run(self) -> None:
        self.server.run(sockets=[self.sock])

    def stop(self) -> None:
        self.server.should_exit = True
        self.join(timeout=10)


@contextmanager
def running(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve one ASGI app on loopback for the duration; yields its base URL."""
    sock = _bind(host, port)
    server = _Server(app, sock)
    server.start()
    deadline = time.monotonic() + 10
    while not server.server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("app did not start within 10 s")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.stop()


class Sandbox:
    """Both simulators running in this process, each on its own thread."""

    def __init__(
        self,
        config: SandboxConfig,
        profile: FaultProfile | None = None,
        st_profile: FaultProfile | None = None,
    ) -> None:
        """`profile` faults the IFS simulator, and ServiceTitan too unless
        `st_profile` is given."""
        self.config = config
        base = profile or FaultProfile(latency_ms=config.latency_ms)
        self.ifs_app = ifs.create_app(config, FaultProfile(**base.to_dict()))
        self.st_app = servicetitan.create_app(
            config, FaultProfile(**(st_profile or base).to_dict())
        )
        self._ifs_sock = _bind(config.host, config.ifs_port)
        self._st_sock = _bind(config.host, config.st_port)
        self._servers: list[_Server] = []

    @property
    def info(self) -> dict[str, Any]:
        return self.config.describe(self._ifs_sock.getsockname()[1], self._st_sock.getsockname()[1])

    def start(self) -> Sandbox:
        self._servers = [_Server(self.ifs_app, self._ifs_sock), _Server(self.st_app, self._st_sock)]
        for server in self._servers:
            server.start()
        deadline = time.monotonic() + 10
        while not all(s.server.started for s in self._servers):
            if time.monotonic() > deadline:
                raise RuntimeError("sandbox did not start within 10 s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def load_profiles(
    path: Path | None, latency_ms: float = 0.0
) -> tuple[FaultProfile | None, FaultProfile | None]:
    """The IFS and ServiceTitan fault profiles of a faults file (or none)."""
    if path is None:
        return None, None
    profiles = (FaultProfile.from_file(path, "ifs"), FaultProfile.from_file(path, "servicetitan"))
    for p in profiles:
        p.latency_ms = p.latency_ms or latency_ms
    return profiles


def serve(config: SandboxConfig, faults: Path | None = None) -> None:
    """Run until interrupted, printing the JSON description line first."""
    sandbox = Sandbox(config, *load_profiles(faults, config.latency_ms)).start()
    print(json.dumps(sandbox.info), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()


class SandboxProcess:
    """`connector-dagster sandbox` in a child process (its own GIL), for tests,
    benchmarks and `make dev`. Ports 0 pick free ports. The child has a session of its
    own: a Ctrl-C in the terminal reaches its parent, which stops it in turn."""

    def __init__(self, config: SandboxConfig, faults_file: Path | None = None) -> None:
        self.config = config
        self.faults_file = faults_file
        self.proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}

    def start(self, timeout: float = 60) -> SandboxProcess:
        env = dict(os.environ, CONNECTOR_SANDBOX_CONFIG=json.dumps(asdict(self.config)))
        cmd = [sys.executable, "-m", "connector_dagster.sandbox.server"]
        if self.faults_file:
            cmd += ["--faults", str(self.faults_file)]
        self.proc = subprocess.Popen(  # noqa: S603
            cmd, env=env, stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line or time.monotonic() > deadline:
            self.stop()
            raise RuntimeError("sandbox process exited before reporting its endpoints")
        self.info = json.loads(line)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _main() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--faults", type=Path)
    args = parser.parse_args()
    data = json.loads(os.environ["CONNECTOR_SANDBOX_CONFIG"])
    data["webhook_retry_delays_s"] = tuple(data["webhook_retry_delays_s"])
    config = SandboxConfig(**data)
    try:
        serve(config, args.faults)
    except OSError as exc:
        sys.exit(
            f"sandbox: cannot listen on {config.host} ports {config.ifs_port} and "
            f"{config.st_port}: {exc.strerror}"
        )


if __name__ == "__main__":
    _main()
