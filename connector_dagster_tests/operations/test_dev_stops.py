"""`connector-dagster dev` (what `make dev` runs) stops every process it started on
SIGTERM and on SIGINT, prints no traceback, removes the .env it wrote for other shells,
and a second start resumes with the same data, the sandbox's included."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

STOP_S = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def home() -> Iterator[Path]:
    """DAGSTER_HOME for the embedded server; not under pytest's temporary folders, which
    a pytest session starting meanwhile closes to the server's user."""
    folder = Path(tempfile.mkdtemp(prefix="connector-dev-"))
    yield folder
    pid_file = folder / "pgdata" / "postmaster.pid"
    if pid_file.exists():  # a failed test: do not leave the server running
        os.kill(int(pid_file.read_text().split("\n", 1)[0]), signal.SIGINT)
        time.sleep(2)
    shutil.rmtree(folder, ignore_errors=True)


class Dev:
    """One `connector-dagster dev` with free ports, the .env it writes in `home`."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env_file = home / "project.env"
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
        self.env = {**env, "DAGSTER_HOME": str(home), "CONNECTOR_ENV_FILE": str(self.env_file)}
        self.log = home / f"dev-{self.port}.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "connector_dagster.cli", "dev", "--port", str(self.port),
                 "--ifs-port", "0", "--st-port", "0", "--webhook-port", "0",
                 "--finance-port", "0"],
                env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.output()
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/server_info", timeout=2).is_success:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"the UI did not answer:\n{self.output()}")

    def processes(self) -> list[psutil.Process]:
        """Every process of the dev system: its descendants and the PostgreSQL server."""
        found = psutil.Process(self.proc.pid).children(recursive=True)
        postmaster = self.home / "pgdata" / "postmaster.pid"
        found.append(psutil.Process(int(postmaster.read_text().split("\n", 1)[0])))
        return found

    def cli(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """A command in another shell of the project: only PATH, HOME and the .env."""
        env = {"PATH": os.environ["PATH"], "HOME": str(self.home),
               "CONNECTOR_ENV_FILE": str(self.env_file)}  # fmt: skip
        return subprocess.run(
            [sys.executable, "-m", "connector_dagster.cli", *argv],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    def stop(self, sig: signal.Signals) -> list[psutil.Process]:
        """Send `sig`, wait for the exit; the processes still running after it."""
        processes = self.processes()
        self.proc.send_signal(sig)
        assert self.proc.wait(STOP_S) == 0, self.output()
        _, alive = psutil.wait_procs(processes, timeout=5)
        return [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]

    def sandbox(self) -> tuple[str, str]:
        """The base URLs of the IFS and ServiceTitan simulators this run started."""
        info = json.loads((self.home / "sandbox.json").read_text())
        return info["ifs"]["base_url"], info["servicetitan"]["api_url"]

    def output(self) -> str:
        return self.log.read_text()

    def kill(self) -> None:
        if self.proc.poll() is None:
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                child.kill()
            self.proc.kill()
            self.proc.wait()


@pytest.mark.slow
def test_dev_stops_everything_on_sigterm_and_sigint_and_resumes_with_the_same_data(
    home: Path,
) -> None:
    first = Dev(home)
    try:
        first.wait_until_up()
        # the webhook receiver runs beside the UI and names the URL to register
        assert re.search(r"webhook receiver sandbox http://127\.0\.0\.1:\d+/webhooks/sandbox",
                         first.output()), first.output()  # fmt: skip
        assert first.env_file.read_text().startswith("# Written by `connector-dagster dev`")
        # finance's page runs beside it, on loopback, reading the same database
        page = re.search(r"finance's page on (http://127\.0\.0\.1:\d+)/", first.output())
        assert page, first.output()
        assert "Periods of sandbox" in httpx.get(page[1], timeout=30).text
        changed = first.cli("mappings", "set", "sandbox", "vendors", "V7777", "3199")
        assert changed.returncode == 0, changed.stderr
        ifs, st = first.sandbox()
        httpx.post(f"{ifs}/_sandbox/periods/ACME01/2026-04/close").raise_for_status()
        httpx.post(f"{st}/_sandbox/accounting-periods/2026-04/close").raise_for_status()
        left = first.stop(signal.SIGTERM)
    finally:
        first.kill()
    assert left == []
    assert "Traceback" not in first.output()
    assert "superseded" not in first.output()
    assert not first.env_file.exists()
    # the terminal holds its own lines and the sandbox's; Dagster's go to the log it names
    assert all(
        line.startswith(("connector-dagster dev: ", "sandbox: "))
        for line in first.output().splitlines()
        if line.strip()
    ), first.output()
    named = re.search(r"goes to (\S+/dev-logs/dev-\d{8}-\d{6}\.log)", first.output())
    assert named, first.output()
    assert "Launching Dagster services" in Path(named[1]).read_text()
    assert Path(named[1]).parent.parent == home

    second = Dev(home)
    try:
        second.wait_until_up()
        listed = second.cli("mappings", "list", "sandbox", "--kind", "vendors")
        assert listed.returncode == 0, listed.stderr
        assert "vendors\tV7777\t3199" in listed.stdout
        ifs, st = second.sandbox()  # the sandbox's data too (DAGSTER_HOME/sandbox-state.json)
        assert httpx.get(f"{ifs}/_sandbox/periods").json()["closed"] == [
            {"company": "ACME01", "period": "2026-04"}
        ]
        assert httpx.get(f"{st}/_sandbox/accounting-periods").json() == {"closed": ["2026-04"]}
        assert "sandbox: resumed the data saved in" in second.output()
        left = second.stop(signal.SIGINT)
    finally:
        second.kill()
    assert left == []
    assert "Traceback" not in second.output()
    assert not second.env_file.exists()
