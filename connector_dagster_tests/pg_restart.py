"""A PostgreSQL of a test's own that can be stopped and started again on the same
data folder and socket: what a restart or an outage of the connector's database
does to a run, with a real server."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path


class RestartablePostgres:
    """The pgserver wheel's PostgreSQL in a temporary folder, deleted on `cleanup`."""

    def __init__(self) -> None:
        from connector_dagster.lib.db import _pgserver

        self._pgserver = _pgserver()
        self.folder = Path(tempfile.mkdtemp(prefix="connector-pg-restart-"))
        self.server = self._pgserver.get_server(self.folder / "pgdata", cleanup_mode="delete")
        self.url = self.server.get_uri()

    def _pg_ctl(self, *args: str) -> None:
        from pgserver._commands import pg_ctl

        pg_ctl(list(args), pgdata=self.server.pgdata, user=self.server.system_user, timeout=60)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: sessions ended, as a restart does; `immediate`:
        as a crash does)."""
        self._pg_ctl("-w", "-m", mode, "stop")

    def start(self) -> None:
        """Start it again on the same folder and socket; returns once it accepts sessions."""
        with self.server._lock:
            self.server.ensure_postgres_running()
        assert self.server.get_uri() == self.url

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.server.cleanup()
        shutil.rmtree(self.folder, ignore_errors=True)
