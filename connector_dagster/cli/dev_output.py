"""What `make dev` shows: the terminal gets what a person acts on (started, the URLs, a
failed run with its period and a link, stopped); the output of Dagster and of the
webhook receiver (sensor ticks, run logs, stack traces) goes to a log file under
DAGSTER_HOME, named at start."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import httpx
import psycopg2

from connector_dagster.lib import db
from connector_dagster.lib.settings import ConfigError

PREFIX = "connector-dagster dev: "
LOG_FOLDER = "dev-logs"
KEPT_LOGS = 10
ALERT_POLL_S = 5.0
UI_POLL_S = 2.0
MESSAGE_CHARS = 160
TAIL_LINES = 15


def say(message: str) -> None:
    print(PREFIX + message, flush=True)


def open_log(home: Path) -> tuple[Path, TextIO]:
    """A new log file in `home/dev-logs/`, named by its start time; only the last
    KEPT_LOGS files are kept."""
    folder = home / LOG_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for old in sorted(folder.glob("dev-*.log"))[: -(KEPT_LOGS - 1)]:
        old.unlink(missing_ok=True)
    path = folder / f"dev-{datetime.now(UTC):%Y%m%d-%H%M%S}.log"
    return path, path.open("a", encoding="utf-8", buffering=1)


def tail(path: Path, lines: int = TAIL_LINES) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return []


def failed_run_line(message: str, run_id: str, ui: str, at: datetime) -> str:
    """One line for a failed run: when, what failed (the alert's text: job, connection,
    flow, period, first failure), cut to MESSAGE_CHARS, and its page in the UI."""
    text = " ".join(message.removeprefix("connector_dagster: ").split())
    if len(text) > MESSAGE_CHARS:
        text = text[: MESSAGE_CHARS - 1] + "…"
    return f"{at.astimezone():%H:%M:%S} {text} {ui}/runs/{run_id}"


class Watch:
    """What the running system has to say, polled from the main loop: the UI's first
    answer, then every run that failed since the start, as the run-failure sensor
    records it in `connector.run_alerts` (once per run)."""

    def __init__(self, database_url: str, ui: str) -> None:
        self.database_url = database_url
        self.ui = ui
        self.ui_up = False
        self.since = self._now()
        self.seen: set[str] = set()
        self._next_ui = 0.0
        self._next_alerts = 0.0

    def _now(self) -> datetime:
        with db.transaction(self.database_url) as cur:
            cur.execute("SELECT now()")
            return cur.fetchone()[0]

    def poll(self) -> Iterator[str]:
        """The lines to print now: asks the UI every UI_POLL_S until it answers, and the
        database every ALERT_POLL_S."""
        clock = time.monotonic()
        if not self.ui_up and clock >= self._next_ui:
            self._next_ui = clock + UI_POLL_S
            yield from self.ui_answers()
        if clock >= self._next_alerts:
            self._next_alerts = clock + ALERT_POLL_S
            yield from self.failed_runs()

    def ui_answers(self) -> Iterator[str]:
        """One line the first time the UI answers."""
        if not self.ui_up and _answers(f"{self.ui}/server_info"):
            self.ui_up = True
            yield f"the UI is up on {self.ui}"

    def failed_runs(self) -> Iterator[str]:
        """One line for each run that failed since the start and was not shown yet."""
        try:
            with db.transaction(self.database_url) as cur:
                cur.execute(
                    """SELECT run_id, message, failed_at FROM connector.run_alerts
                       WHERE failed_at >= %s ORDER BY failed_at, run_id""",
                    (self.since,),
                )
                rows = cur.fetchall()
        except (ConfigError, psycopg2.Error):
            return  # the database is stopping or busy: the next poll sees these runs
        for run_id, message, failed_at in rows:
            if run_id not in self.seen:
                self.seen.add(run_id)
                yield failed_run_line(message, run_id, self.ui, failed_at)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).is_success
    except httpx.HTTPError:
        return False
