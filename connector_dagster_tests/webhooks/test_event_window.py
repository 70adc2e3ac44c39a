"""The window of event times a connection takes, over real HTTP: an event dated
before `max_event_age_hours` or beyond `max_event_ahead_s` is refused with 422 and
stored nowhere, counted under its reason, and `webhooks status` says so."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from connector_dagster.cli import main
from connector_dagster_tests.webhooks.support import (
    envelope,
    health_of,
    inbox_rows,
    post,
    receiver,
    wait_until,
)

pytestmark = pytest.mark.usefixtures("sandbox_connection")


def _key(sandbox: dict) -> str:
    return sandbox["servicetitan"]["webhook_key"]


def test_an_event_dated_2024_is_refused_and_the_status_counts_it(
    sandbox_connection: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    key = _key(sandbox_connection)
    stale = envelope("occ-2024")
    stale["time"] = "2024-03-02T19:10:05Z"
    with receiver() as url:
        refused = post(url, stale, key)
        again = post(url, stale, key)  # ServiceTitan's retry: refused the same way
        fresh = post(url, envelope("occ-now"), key)
        wait_until(lambda: health_of().refused)

    assert (refused.status_code, refused.json()) == (422, {"error": "event_too_old"})
    assert again.status_code == 422
    assert fresh.status_code == 200
    assert [r["occurrence_id"] for r in inbox_rows()] == ["occ-now"]
    assert health_of().refused == {"event_too_old": 2}

    assert main(["webhooks", "status"]) == 0
    line = capsys.readouterr().out.strip()
    assert re.fullmatch(
        r"sandbox: received 1, redelivered 0, pending 1 \(oldest \d+ s\), refused 2 "
        r"\(event_too_old 2 \(422\)\); webhook key set; events dated over 72 h ago or "
        r"300 s ahead refused",
        line,
    ), line
    assert main(["webhooks", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["refused"] == {"event_too_old": 2}
    assert status["event_window"] == {"max_event_age_hours": 72, "max_event_ahead_s": 300}


def test_the_window_is_set_per_connection(sandbox_connection: dict) -> None:
    """71 h old is taken by default; with `max_event_age_hours: 1`, 2 h old is not."""
    key = _key(sandbox_connection)
    with receiver() as url:
        assert post(url, envelope("occ-71h", age=timedelta(hours=71)), key).status_code == 200
    with receiver(max_event_age_hours=1) as url:
        late = post(url, envelope("occ-2h", age=timedelta(hours=2)), key)
        recent = post(url, envelope("occ-50m", age=timedelta(minutes=50)), key)
        wait_until(lambda: health_of().refused)

    assert (late.status_code, late.json()) == (422, {"error": "event_too_old"})
    assert recent.status_code == 200
    assert [r["occurrence_id"] for r in inbox_rows()] == ["occ-71h", "occ-50m"]


def test_an_event_dated_ahead_of_the_clock_is_refused_beyond_the_skew_allowed(
    sandbox_connection: dict, caplog: pytest.LogCaptureFixture
) -> None:
    key = _key(sandbox_connection)
    with receiver() as url:
        ahead = post(url, envelope("occ-ahead", age=-timedelta(hours=1)), key)
        skewed = post(url, envelope("occ-skew", age=-timedelta(seconds=60)), key)
        wait_until(lambda: health_of().refused)

    assert (ahead.status_code, ahead.json()) == (422, {"error": "event_in_future"})
    assert skewed.status_code == 200
    assert [r["occurrence_id"] for r in inbox_rows()] == ["occ-skew"]
    assert health_of().refused == {"event_in_future": 1}
    assert "ahead of this receiver's clock" in caplog.text
