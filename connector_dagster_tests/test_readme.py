"""The README's recipe works as printed: correcting the sandbox records it names, through
the IFS simulator's API on /int/, turns their red period green."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from connector_dagster.lib.settings import PROJECT_ROOT
from connector_dagster_tests.flows.purchase_orders.test_flow import materialize, state_store

PERIOD = "2026-05-01"


def readme_block(containing: str) -> str:
    """The README's shell block that contains `containing`."""
    blocks = re.findall(r"```sh\n(.*?)```", (PROJECT_ROOT / "README.md").read_text(), re.S)
    [block] = [b for b in blocks if containing in b]
    return block


def heredoc(block: str) -> str:
    """The Python that a block feeds to `.venv/bin/python - <<'EOF'`."""
    match = re.search(r"<<'EOF'\n(.*?)\nEOF\n", block, re.S)
    assert match, block
    return match[1]


def test_the_readme_correction_of_sandbox_records_turns_their_period_green(
    sandbox_connection: dict, tmp_path: Path
) -> None:
    assert not materialize(period=PERIOD).success
    failed = {f.source_key for f in state_store().failed(connection="sandbox")}
    block = readme_block("PurchaseOrderLineSet")
    script = heredoc(block)
    assert failed == set(re.findall(r'\("(PO-[\w-]+)", "\d+", \{', script))
    assert f"--partition {PERIOD}" in block

    home = tmp_path / ".dagster_home"  # what make dev leaves there
    home.mkdir()
    (home / "sandbox.json").write_text(json.dumps(sandbox_connection))
    proc = subprocess.run(
        [sys.executable, "-"], input=script, cwd=tmp_path, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert [line.split()[-1] for line in proc.stdout.splitlines()] == ["204"] * len(failed)

    assert materialize(period=PERIOD).success
    assert state_store().failed(connection="sandbox") == []
