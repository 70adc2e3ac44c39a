"""`connector-dagster webhooks serve` prints the URL to register per connection and
serves it; `webhooks status` prints what was received, refused and is pending."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from contextlib import closing

import pytest

from connector_dagster.cli import main
from connector_dagster.lib.store import Store
from connector_dagster_tests.webhooks.support import (
    envelope,
    post,
    receiver,
    wait_until,
)

pytestmark = pytest.mark.usefixtures("sandbox_connection")


def test_serve_prints_the_url_to_register_and_serves_it(sandbox_connection: dict) -> None:
    key = sandbox_connection["servicetitan"]["webhook_key"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector_dagster.cli", "webhooks", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        match = re.search(r"  sandbox: (http://127\.0\.0\.1:\d+/webhooks/sandbox)  ", lines[2])
        assert match, lines
        response = post(match.group(1), envelope("occ-cli"), key)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)

    assert lines[0].startswith("webhook receiver listening on http://127.0.0.1:")
    assert "register these callback URLs in ServiceTitan" in lines[1]
    assert "signature header X-ST-Signature; webhook key set" in lines[2]
    assert response.status_code == 200
    # a clean stop: uvicorn re-raises SIGTERM after its shutdown (-15), or, when the signal
    # lands before its handler is in place or after the server ended, the CLI exits 0
    assert proc.returncode in (0, -signal.SIGTERM), (proc.returncode, err[-2000:])
    assert "Traceback" not in err
    assert "connection sandbox: stored tn.acc.invoice-posted occurrence 'occ-cli'" in err
    assert key not in err


def test_status_prints_received_refused_pending_and_the_oldest_age(
    sandbox_connection: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    key = sandbox_connection["servicetitan"]["webhook_key"]
    with receiver() as url:
        post(url, envelope("occ-1"), key)
        post(url, envelope("occ-1"), key)
        post(url, envelope("occ-2"), "f" * 48)
        post(url, envelope(tenant=99), key)
        wait_until(lambda: _refusals() == 2)

    assert main(["webhooks", "status"]) == 0
    line = capsys.readouterr().out.strip()
    assert re.fullmatch(
        r"sandbox: received 1, redelivered 1, pending 1 \(oldest \d+ s\), refused 2 "
        r"\(signature_invalid 1 \(401\), tenant_unknown 1 \(422\)\); webhook key set; "
        r"events dated over 72 h ago or 300 s ahead refused",
        line,
    ), line

    assert main(["webhooks", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["received"] == 1 and status["pending"] == 1
    assert status["refused"] == {"signature_invalid": 1, "tenant_unknown": 1}
    assert status["oldest_pending_age_s"] >= 0


def test_status_says_when_the_vault_has_no_webhook_key(capsys: pytest.CaptureFixture[str]) -> None:
    with closing(Store(os.environ["CONNECTOR_DATABASE_URL"], 1)) as store, store.cursor() as cur:
        cur.execute("DELETE FROM connector.credentials WHERE field = 'webhook_key'")

    assert main(["webhooks", "status"]) == 0

    out = capsys.readouterr().out
    assert "sandbox: received 0, redelivered 0, pending 0, refused 0; NO webhook key" in out
    assert "connector-dagster credentials set sandbox servicetitan webhook_key" in out


def _refusals() -> int:
    with closing(Store(os.environ["CONNECTOR_DATABASE_URL"], 1)) as store, store.cursor() as cur:
        cur.execute("SELECT coalesce(sum(refused), 0) FROM connector.webhook_refusals")
        return cur.fetchone()[0]
