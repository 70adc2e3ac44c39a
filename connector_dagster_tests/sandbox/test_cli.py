"""`connector-dagster sandbox`: one JSON line with endpoints and credentials; faults per system."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx


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
