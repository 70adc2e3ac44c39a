"""Runs the receiver with uvicorn: in the foreground (`connector-dagster webhooks
serve`), in a thread of this process, or as a child process that reports its URL on
one JSON line (tests, benchmarks, `make dev`). Port 0 picks a free port."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

import uvicorn

from connector_dagster.lib import db, migrate
from connector_dagster.lib.store import Store
from connector_dagster.webhooks.app import create_app
from connector_dagster.webhooks.config import ReceiverConfig, load_config, registration_url

Announce = Callable[[str, ReceiverConfig], None]
"""Called with the receiver's base URL and config once it serves."""


def bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _server(app: Any) -> uvicorn.Server:
    return uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))


def serve(host: str, port: int, announce: Announce, public_url: str | None = None) -> None:
    """Migrate, then serve every connection's endpoint until SIGINT or SIGTERM (the
    deliveries in flight are finished first)."""
    url = db.database_url()
    migrate.migrate(url)
    config = load_config()
    store = Store(url, max_connections=config.db_connections)
    sock = bind(host, port)
    base = public_url or f"http://{host}:{sock.getsockname()[1]}"
    app = create_app(config, store, on_ready=lambda: announce(base, config))
    _server(app).run(sockets=[sock])


@contextmanager
def running(config: ReceiverConfig, store: Store, host: str = "127.0.0.1") -> Iterator[str]:
    """The receiver on a free port in a thread of this process; yields its base URL."""
    sock = bind(host, 0)
    ready = threading.Event()
    server = _server(create_app(config, store, on_ready=ready.set))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    if not ready.wait(10):
        server.should_exit = True
        raise RuntimeError("the webhook receiver did not start within 10 s")
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class ReceiverProcess:
    """The receiver in a child process with the given environment (database URL,
    master key, connections file); `info` is its JSON line: `url`, `endpoints`. Its log
    goes to `stderr` (default: this process's). It has a session of its own: a Ctrl-C
    in the terminal reaches its parent, which stops it in turn."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        log_level: str = "warning",
        port: int = 0,
        stderr: IO[str] | None = None,
    ) -> None:
        self.env = dict(os.environ, **(env or {}))
        self.log_level = log_level
        self.port = port
        self.stderr = stderr
        self.proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> ReceiverProcess:
        cmd = [
            sys.executable, "-m", "connector_dagster.webhooks.server", self.log_level,
            str(self.port),
        ]  # fmt: skip
        self.proc = subprocess.Popen(  # noqa: S603
            cmd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError("the webhook receiver exited before reporting its URL")
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

    def __enter__(self) -> ReceiverProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _announce_json(base: str, config: ReceiverConfig) -> None:
    endpoints = {name: registration_url(base, name) for name in config.endpoints}
    print(json.dumps({"url": base, "endpoints": endpoints}), flush=True)


def _main() -> None:
    logging.basicConfig(
        level=sys.argv[1].upper() if len(sys.argv) > 1 else "INFO",
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # On SIGINT uvicorn stops in order, then raises the signal it caught again: no traceback.
    with contextlib.suppress(KeyboardInterrupt):
        serve("127.0.0.1", int(sys.argv[2]) if len(sys.argv) > 2 else 0, _announce_json)


if __name__ == "__main__":
    _main()
