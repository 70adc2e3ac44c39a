"""Runs finance's page with uvicorn: in the foreground (`connector-dagster finance
serve`), or as a child process that reports its URL on one JSON line (`make dev`,
tests). Port 0 picks a free port."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from connector_dagster.engine import registry
from connector_dagster.finance.access import TOKEN_VAR, Access
from connector_dagster.finance.app import create_app
from connector_dagster.lib import db, migrate
from connector_dagster.lib.settings import ConfigError
from connector_dagster.lib.store import Store

DEFAULT_PORT = 8591
"""Beside Dagster's 3000, the simulators' 8571-8572 and the webhook receiver's 8590."""


def serve(
    host: str,
    port: int,
    connection: str | None = None,
    dagster_url: str | None = None,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve the page until SIGINT or SIGTERM; a login is required beyond loopback."""
    from connector_dagster.webhooks.server import bind

    access = Access.for_host(host, os.environ.get(TOKEN_VAR))
    connections = [connection] if connection else sorted(registry.load_connections())
    if not connections:
        raise ConfigError("the connections file has no connection to show")
    url = db.database_url()
    migrate.migrate(url)
    store = Store(url)
    try:
        sock = bind(host, port)
    except OSError as exc:
        raise ConfigError(
            f"finance's page cannot listen on {host}:{port} ({exc.strerror}); choose another "
            "port with --port (make dev: --finance-port)"
        ) from None
    base = f"http://{host}:{sock.getsockname()[1]}"
    app = create_app(store, connections, access, dagster_url)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    if announce is not None:
        announce(base)
    try:
        server.run(sockets=[sock])
    finally:
        store.close()


@contextmanager
def running(
    store: Store, connections: list[str], access: Access, dagster_url: str | None = None
) -> Iterator[str]:
    """The page on a free loopback port in a thread of this process; yields its URL."""
    from connector_dagster.webhooks.server import bind

    sock = bind("127.0.0.1", 0)
    app = create_app(store, connections, access, dagster_url)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        server.should_exit = True
        raise RuntimeError("finance's page did not start within 60 s")
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


class FinanceProcess:
    """The page in a child process with this process's environment; `info["url"]` is
    its address once it serves."""

    def __init__(self, port: int = 0, dagster_url: str | None = None) -> None:
        self.port = port
        self.dagster_url = dagster_url
        self.proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}

    def start(self) -> FinanceProcess:
        cmd = [sys.executable, "-m", "connector_dagster.finance.server", str(self.port),
               self.dagster_url or ""]  # fmt: skip
        self.proc = subprocess.Popen(cmd, env=dict(os.environ), stdout=subprocess.PIPE, text=True)  # noqa: S603
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError("finance's page exited before reporting its URL")
        self.info = json.loads(line)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> FinanceProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    dagster_url = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None
    try:
        serve("127.0.0.1", port, None, dagster_url,
              lambda base: print(json.dumps({"url": base}), flush=True))  # fmt: skip
    except ConfigError as exc:
        print(f"connector-dagster finance: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)


if __name__ == "__main__":
    _main()
