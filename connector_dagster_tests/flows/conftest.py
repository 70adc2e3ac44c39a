"""Fixtures of the flow tests."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from connector_dagster.lib import db
from connector_dagster_tests.flows.restart import restartable_db  # noqa: F401  (a fixture)


@pytest.fixture
def east_of_utc(sandbox_connection: dict, db_env: str) -> dict:
    """The connector's database set to Asia/Tokyo (UTC+9) for every new session."""
    name = urlsplit(db_env).path.strip("/")
    with db.transaction(db_env) as cur:
        cur.execute(f"ALTER DATABASE \"{name}\" SET timezone TO 'Asia/Tokyo'")
    with db.transaction(db_env) as cur:
        cur.execute("SELECT current_setting('TimeZone')")
    return sandbox_connection
