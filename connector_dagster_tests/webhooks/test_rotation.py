"""Webhook key rotation: after `rotate-key` the new key and, until its grace period
ends, the previous one verify; then only the new one does. Over real HTTP."""

from __future__ import annotations

import io
import os
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest

from connector_dagster.cli import main
from connector_dagster.lib.settings import ConfigError
from connector_dagster.lib.store import Store
from connector_dagster.systems.vault import Vault
from connector_dagster.webhooks.keys import KeyRing, key_state, rotate_key
from connector_dagster_tests.webhooks.support import (
    envelope,
    inbox_rows,
    post,
    receiver,
)

pytestmark = pytest.mark.usefixtures("sandbox_connection")

NEW_KEY = "n3w-" + "k" * 40


def _store() -> Store:
    return Store(os.environ["CONNECTOR_DATABASE_URL"], 1)


def _expire_previous_key() -> None:
    """The grace period is over (as if its hours had passed)."""
    with closing(_store()) as store, store.cursor() as cur:
        cur.execute(
            """UPDATE connector.credentials SET expires_at = now() - interval '1 second'
               WHERE field = 'webhook_key_previous'"""
        )


def test_the_previous_key_verifies_until_its_grace_period_ends(sandbox_connection: dict) -> None:
    old_key = sandbox_connection["servicetitan"]["webhook_key"]
    with closing(_store()) as store:
        until = rotate_key(Vault(store), "sandbox", NEW_KEY, timedelta(hours=72))
    assert until is not None
    assert timedelta(hours=71) < until - datetime.now(UTC) <= timedelta(hours=72)

    with receiver(key_cache_s=0) as url:
        during = [post(url, envelope("occ-old"), old_key), post(url, envelope("occ-new"), NEW_KEY)]
        _expire_previous_key()
        after = [post(url, envelope("occ-late"), old_key), post(url, envelope("occ-n2"), NEW_KEY)]

    assert [r.status_code for r in during] == [200, 200]
    assert [r.status_code for r in after] == [401, 200]
    assert [r["occurrence_id"] for r in inbox_rows()] == ["occ-old", "occ-new", "occ-n2"]


def test_a_cached_previous_key_stops_verifying_at_its_expiry() -> None:
    with closing(_store()) as store:
        vault = Vault(store)
        until = rotate_key(vault, "sandbox", NEW_KEY, timedelta(hours=1))
        assert until is not None
        now = [until - timedelta(seconds=1)]
        ring = KeyRing(vault, {"sandbox": 300}, clock=lambda: now[0])

        before = [k.label for k in ring.keys("sandbox")]
        now[0] = until
        after = [k.label for k in ring.cached("sandbox") or ()]

    assert before == ["current", "previous"]
    assert after == ["current"]


def test_rotate_key_from_the_command_line_reads_stdin_and_keeps_the_old_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(NEW_KEY + "\n"))

    assert main(["webhooks", "rotate-key", "sandbox", "--grace-hours", "2"]) == 0

    out = capsys.readouterr().out
    assert "sandbox: new webhook key stored; the previous key is accepted until" in out
    assert NEW_KEY not in out
    with closing(_store()) as store:
        vault = Vault(store)
        assert vault.get("sandbox", "servicetitan")["webhook_key"] == NEW_KEY
        state = key_state(vault, "sandbox")
    assert state.current
    assert state.previous_until is not None
    assert timedelta(hours=1) < state.previous_until - datetime.now(UTC) <= timedelta(hours=2)


def test_a_key_of_the_wrong_length_is_refused_without_being_echoed() -> None:
    with closing(_store()) as store, pytest.raises(ConfigError) as err:
        rotate_key(Vault(store), "sandbox", "short-secret", timedelta(hours=1))
    assert "32 to 64 characters" in str(err.value)
    assert "short-secret" not in str(err.value)
