"""Runs finance's page with uvicorn: in the foreground (`connector-dagster finance
serve`), in a thread of this process (tests), or as a child process that reports its
URL on one JSON line (`make dev`). Port 0 picks a free port."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from connector_dagster.engine import registry
from connector_dagster.finance.access import TOKEN_VAR, Access
from connector_dagster.finance.app import create_app
from connector_dagster.lib import db, migrate, serving
from connector_dagster.lib.settings import ConfigError
from connector_dagster.lib.store import Store

DEFAULT_PORT = 8591
"""Beside Dagster's 3000, the simulators' 8571-8572 and the webhook receiver's 8590."""

WHAT = "finance's page"


def serve(
    host: str,
    port: int,
    connection: str | None = None,
    dagster_url: str | None = None,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve the page until SIGINT or SIGTERM; a login is required beyond loopback."""
    access = Access.for_host(host, os.environ.get(TOKEN_VAR))
    connections = [connection] if connection else sorted(registry.load_connections())
    if not connections:
        raise ConfigError("the connections file has no connection to show")
    url = db.database_url()
    migrate.migrate(url)
    store = Store(url)
    try:
        sock = serving.bind(host, port)
    except OSError as exc:
        raise ConfigError(
            f"finance's page cannot listen on {host}:{port} ({exc.strerror}); choose another "
            "port with --port (make dev: --finance-port)"
        ) from None
    base = f"http://{host}:{sock.getsockname()[1]}"
    app = create_app(store, connections, access, dagster_url)
    if announce is not None:
        announce(base)
    try:
        serving.serve(app, sock)
    finally:
        store.close()


@contextmanager
def running(
    store: Store, connections: list[str], access: Access, dagster_url: str | None = None
) -> Iterator[str]:
    """The page on a free loopback port in a thread of this process; yields its URL."""
    app = create_app(store, connections, access, dagster_url)
    with serving.in_thread(app, WHAT, timeout=60) as base:
        yield base


class FinanceProcess(serving.ServerProcess):
    """The page in a child process with this process's environment; `info["url"]` is
    its address once it serves."""

    def __init__(self, port: int = 0, dagster_url: str | None = None) -> None:
        super().__init__("connector_dagster.finance.server", [str(port), dagster_url or ""], WHAT)
        self.port = port
        self.dagster_url = dagster_url


def _main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    dagster_url = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None
    try:
        serve("127.0.0.1", port, None, dagster_url, lambda base: serving.announce_json(url=base))
    except ConfigError as exc:
        print(f"connector-dagster finance: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)


if __name__ == "__main__":
    _main()
