"""The database a benchmark runs on, and how its result line names it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from connector_dagster.lib import db
from connector_dagster.lib.migrate import migrate
from connector_dagster.lib.settings import DATABASE_URL_VAR


@contextmanager
def bench_database() -> Iterator[str]:
    """`CONNECTOR_DATABASE_URL` when set, else a throwaway server; migrated either way."""
    url = os.environ.get(DATABASE_URL_VAR)
    if url:
        url = db.validate_url(url.strip())
        migrate(url)
        yield url
        return
    with db.throwaway_server() as url:
        migrate(url)
        yield url


def database_label(url: str) -> str:
    """Which database a run used, for its result line (no credentials)."""
    return db.describe(url) if os.environ.get(DATABASE_URL_VAR) else "throwaway"
