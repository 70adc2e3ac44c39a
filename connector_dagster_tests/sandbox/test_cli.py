"""`connector-dagster sandbox`: one JSON line with endpoints and credentials; faults per system."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from connector_dagster.cli import main


def test_sandbox_command_prints_endpoints_and_applies_a_fault_file(tmp_path: Path) -> None:
    faults = tmp_path / "faults.yaml"
    faults.write_text("ifs:\n  rate_500: 1.0\nservicetitan:\n  latency_ms: 1\n")
    cmd = [sys.executable, "-m", "connector_dagster.cli", "sandbox", "--ifs-port", "0",
           "--st-port", "0", "--faults", str(faults)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        ifs, st = info["ifs"], info["servicetitan"]
        assert set(ifs) == {"base_url", "token_url", "realm", "client_id", "client_secret"}
        assert set(st) == {"api_url", "auth_url", "tenant_id", "app_key", "client_id",
                           "client_secret", "webhook_key"}  # fmt: skip
        token = httpx.post(
            st["auth_url"],
            data={"grant_type": "client_credentials", "client_id": st["client_id"],
                  "client_secret": st["client_secret"]},
        ).json()["access_token"]  # fmt: skip
        vendors = httpx.get(
            f"{st['api_url']}/inventory/v2/tenant/{st['tenant_id']}/vendors",
            headers={"Authorization": f"Bearer {token}", "ST-App-Key": st["app_key"]},
        )
        assert vendors.status_code == 200 and vendors.json()["data"]
        ifs_token = httpx.post(
            ifs["token_url"],
            data={"grant_type": "client_credentials", "client_id": ifs["client_id"],
                  "client_secret": ifs["client_secret"]},
        )  # fmt: skip
        assert ifs_token.status_code == 500  # the IFS half runs the fault profile
        assert httpx.get(f"{ifs['base_url']}/_sandbox/faults").json()["rate_500"] == 1.0
    finally:
        proc.terminate()
        proc.wait(10)


def test_sandbox_command_sets_the_clock_the_seed_is_dated_as_of() -> None:
    cmd = [sys.executable, "-m", "connector_dagster.cli", "sandbox", "--ifs-port", "0",
           "--st-port", "0", "--now", "2026-06-15T14:00:00+02:00"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        for base in (info["ifs"]["base_url"], info["servicetitan"]["api_url"]):
            state = httpx.get(f"{base}/_sandbox/state").json()
            assert state["seededAsOf"] == "2026-06-15T12:00:00+00:00"
    finally:
        proc.terminate()
        proc.wait(10)


def test_sandbox_command_refuses_a_clock_that_is_not_an_instant(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["sandbox", "--now", "15/06/2026"]) == 2
    assert "--now" in capsys.readouterr().err
    assert main(["sandbox", "--now", "2020-01-01T00:00:00Z"]) == 2
    assert "before the seeded window, which starts 2025-10-01" in capsys.readouterr().err


def test_sandbox_command_refuses_orders_per_period_it_cannot_seed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for bad, said in (
        ("2026-10", "like 2026-10=100000"),
        ("2031-01=5", "not a month YYYY-MM of the seeded window 2025-10..2026-12"),
        ("2026-10=2000000", "from 0 to 1,000,000"),
    ):
        assert main(["sandbox", "--period-orders", bad]) == 2
        assert said in capsys.readouterr().err


def test_sandbox_command_refuses_invoices_per_period_it_cannot_seed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for bad, said in (
        ("2026-10", "like 2026-10=100000"),
        ("2031-01=5", "2031-01' of --period-invoices is not a month YYYY-MM of the seeded"),
        ("2026-10=2000000", "is not a number of invoices from 0 to 1,000,000"),
    ):
        assert main(["sandbox", "--period-invoices", bad]) == 2
        assert said in capsys.readouterr().err
