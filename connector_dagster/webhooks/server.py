"""Runs the receiver with uvicorn: in the foreground (`connector-dagster webhooks
serve`), in a thread of this process, or as a child process that reports its URL on
one JSON line (tests, benchmarks, `make dev`). Port 0 picks a free port."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

from connector_dagster.lib import db, migrate, serving
from connector_dagster.lib.store import Store
from connector_dagster.webhooks.app import create_app
from connector_dagster.webhooks.config import ReceiverConfig, load_config, registration_url

Announce = Callable[[str, ReceiverConfig], None]
"""Called with the receiver's base URL and config once it serves."""

WHAT = "the webhook receiver"


def serve(host: str, port: int, announce: Announce, public_url: str | None = None) -> None:
    """Migrate, then serve every connection's endpoint until SIGINT or SIGTERM (the
    deliveries in flight are finished first)."""
    url = db.database_url()
    migrate.migrate(url)
    config = load_config()
    store = Store(url, max_connections=config.db_connections)
    sock = serving.bind(host, port)
    base = public_url or f"http://{host}:{sock.getsockname()[1]}"
    app = create_app(config, store, on_ready=lambda: announce(base, config))
    serving.serve(app, sock, lifespan="on")


@contextmanager
def running(config: ReceiverConfig, store: Store, host: str = "127.0.0.1") -> Iterator[str]:
    """The receiver on a free port in a thread of this process; yields its base URL."""
    with serving.in_thread(create_app(config, store), WHAT, lifespan="on", host=host) as base:
        yield base


class ReceiverProcess(serving.ServerProcess):
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
        super().__init__(
            "connector_dagster.webhooks.server",
            [log_level, str(port)],
            WHAT,
            env=dict(os.environ, **(env or {})),
            stderr=stderr,
            own_session=True,
        )
        self.log_level = log_level
        self.port = port


def _announce_json(base: str, config: ReceiverConfig) -> None:
    endpoints = {name: registration_url(base, name) for name in config.endpoints}
    serving.announce_json(url=base, endpoints=endpoints)


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
