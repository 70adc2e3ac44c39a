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

import asyncio
import faulthandler
import gc
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
from starlette.types import Receive, Scope, Send

from connector_dagster.sandbox.config import SandboxConfig
from connector_dagster.sandbox.faults import ConnectionDropped, FaultProfile
from connector_dagster.sandbox.ifs import app as ifs
from connector_dagster.sandbox.servicetitan import app as servicetitan
from connector_dagster.sandbox.servicetitan.tenants import TenantRouter
from connector_dagster.sandbox.statefile import StateFile, plain

__all__ = ["Sandbox", "SandboxConfig", "SandboxProcess", "load_profiles", "running", "serve"]


class _QuietInjectedResets(logging.Filter):
    """Injected connection resets are the sandbox working, not failing: no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ConnectionDropped)


logging.getLogger("uvicorn.error").addFilter(_QuietInjectedResets())
T = TypeVar("T")


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
        self.app = app
        self.sock = sock
        cfg = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(cfg)
        self.loop: asyncio.AbstractEventLoop | None = None

    def run(self) -> None:
        with asyncio.Runner(loop_factory=self.server.config.get_loop_factory()) as runner:
            self.loop = runner.get_loop()
            runner.run(self.server.serve(sockets=[self.sock]))

    def call(self, fn: Callable[[], T], timeout: float = 60) -> T:
        """`fn()` on the server's event loop, so between two requests' steps (the
        simulators change their data only there); directly once the server has stopped."""
        loop = self.loop
        if loop is None or loop.is_closed() or not self.is_alive():
            return fn()

        async def on_loop() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(on_loop(), loop).result(timeout)

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


class _Changes:
    """An ASGI app counting, once each is answered, the requests that may have changed
    its data (any method but GET and HEAD)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.count = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            if scope.get("method", "GET") not in ("GET", "HEAD"):
                self.count += 1


class Sandbox:
    """Both simulators running in this process, each on its own thread; with more
    tenants (`config.tenants`), each tenant's IFS on a port of its own and every
    tenant's ServiceTitan behind one port (`servicetitan.tenants.TenantRouter`)."""

    def __init__(
        self,
        config: SandboxConfig,
        profile: FaultProfile | None = None,
        st_profile: FaultProfile | None = None,
    ) -> None:
        """`profile` faults the IFS simulator, and ServiceTitan too unless
        `st_profile` is given; every tenant starts with its own copy of them."""
        self.config = config
        base = profile or FaultProfile(latency_ms=config.latency_ms)
        profiles = (base, st_profile or base)
        self.state = StateFile(config) if config.state_file else None
        apps = self.state.load(partial(_create_apps, config, profiles)) if self.state else None
        self.ifs_app, self.st_app = apps or _create_apps(config, profiles, None)
        more = [_create_apps(c, profiles, None) for c in config.tenant_configs()[1:]]
        self.tenant_apps = [(self.ifs_app, self.st_app), *more]
        # Requests that may have changed data, per simulator, when the file was last in step.
        self._saved_changes = None if apps is None else [0, 0]
        self._watched: list[_Changes] = []
        self._ifs_sock = _bind(config.host, config.ifs_port)
        self._st_sock = _bind(config.host, config.st_port)
        self._more_ifs_socks = [_bind(c.host, c.ifs_port) for c in config.tenant_configs()[1:]]
        self._servers: list[_Server] = []
        self._stopping = threading.Event()
        self._saver: threading.Thread | None = None

    @property
    def info(self) -> dict[str, Any]:
        return self.config.describe(
            self._ifs_sock.getsockname()[1],
            self._st_sock.getsockname()[1],
            tuple(sock.getsockname()[1] for sock in self._more_ifs_socks),
        )

    def start(self) -> Sandbox:
        st_app = self.st_app
        if len(self.tenant_apps) > 1:
            st_app = TenantRouter([st for _, st in self.tenant_apps])
        self._watched = [_Changes(self.ifs_app), _Changes(st_app)]
        socks = (self._ifs_sock, self._st_sock)
        self._servers = [_Server(app, sock) for app, sock in zip(self._watched, socks, strict=True)]
        self._servers += [
            _Server(ifs_app, sock)
            for (ifs_app, _), sock in zip(self.tenant_apps[1:], self._more_ifs_socks, strict=True)
        ]
        for server in self._servers:
            server.start()
        deadline = time.monotonic() + 10
        while not all(s.server.started for s in self._servers):
            if time.monotonic() > deadline:
                raise RuntimeError("sandbox did not start within 10 s")
            time.sleep(0.01)
        if self.state is not None:
            self._saver = threading.Thread(target=self._save_periodically, daemon=True)
            self._saver.start()
        return self

    def stop(self) -> None:
        """Stop serving; with a state file, save the data once the last request is done."""
        self._stopping.set()
        if self._saver is not None:
            self._saver.join()
        for server in self._servers:
            server.stop()
        if self.state is not None and self._servers:
            self._save_or_say()

    def save(self) -> bool:
        """Write both simulators' data to the state file, each taken on its server's event
        loop between two requests; nothing when no request could have changed it since the
        file was last written or read. False when nothing was written."""
        assert self.state is not None
        changes = [app.count for app in self._watched]
        if changes == self._saved_changes:
            return False
        modules = {"ifs": ifs, "servicetitan": servicetitan}
        paused = gc.isenabled()
        gc.disable()  # the snapshot makes a million short-lived containers at scale 10
        try:
            parts = {
                system: server.call(partial(_encoded_snapshot, module, app.app))
                for (system, module), server, app in zip(
                    modules.items(), self._servers[:2], self._watched, strict=True
                )
            }
        finally:
            if paused:
                gc.enable()
        written = self.state.save(parts)
        self._saved_changes = changes
        return written

    def _save_periodically(self) -> None:
        while not self._stopping.wait(self.config.state_save_s):
            self._save_or_say()

    def _save_or_say(self) -> None:
        try:
            self.save()
        except (OSError, TypeError, TimeoutError) as exc:
            print(
                f"sandbox: could not save the data to {self.config.state_file}: {exc}; "
                "the file keeps the last save; check the disk and the folder's permissions",
                file=sys.stderr,
                flush=True,
            )

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _encoded_snapshot(module: Any, app: Any) -> Any:
    return plain(module.snapshot(app))


def _create_apps(
    config: SandboxConfig,
    profiles: tuple[FaultProfile, FaultProfile],
    saved: dict[str, Any] | None,
) -> tuple[Any, Any]:
    """Both simulators, each with a copy of its fault profile, from `saved` or the seed."""
    ifs_profile, st_profile = (FaultProfile(**p.to_dict()) for p in profiles)
    return (
        ifs.create_app(config, ifs_profile, saved=None if saved is None else saved["ifs"]),
        servicetitan.create_app(
            config, st_profile, saved=None if saved is None else saved["servicetitan"]
        ),
    )


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
    """Run until interrupted, printing the JSON description line first. A SIGINT (Ctrl-C)
    or SIGTERM that comes as soon as that line is read still stops it in order (saving
    its data). Both are handled here rather than left to Python's KeyboardInterrupt,
    which a process started with SIGINT ignored (a parent's `&`, a test runner's worker)
    never gets: that sandbox went on serving after a Ctrl-C."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    # `kill -USR1 <pid>` prints every thread's stack to stderr: where a stuck sandbox is.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    sandbox = Sandbox(config, *load_profiles(faults, config.latency_ms)).start()
    print(json.dumps(sandbox.info), flush=True)
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
        """SIGTERM, then SIGKILL after 10 s (60 s with a state file, which it saves)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60 if self.config.state_file else 10)
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
