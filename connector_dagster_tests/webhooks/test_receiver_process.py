"""The receiver as a child process, as `make dev` starts it: its log goes to the file
it is given, and SIGINT (a Ctrl-C) or SIGTERM stops it with no traceback."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from connector_dagster.bench.webhooks import prepared
from connector_dagster.webhooks.server import ReceiverProcess

STOP_S = 60  # a loaded machine; it stops in about a second


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_the_receiver_stops_on_a_signal_without_a_traceback(
    fresh_db: str, tmp_path: Path, sig: signal.Signals
) -> None:
    log_path = tmp_path / "receiver.log"
    with prepared(fresh_db) as setup, log_path.open("w") as log:
        receiver = ReceiverProcess(setup.env, log_level="info", stderr=log).start()
        try:
            assert receiver.info["endpoints"]
            assert receiver.proc is not None
            receiver.proc.send_signal(sig)
            code = receiver.proc.wait(STOP_S)
        finally:
            receiver.stop()
    output = log_path.read_text()
    assert code in (0, -sig), output
    assert "Traceback" not in output
    assert "KeyboardInterrupt" not in output
