"""`connector-dagster` as a user types it: what it does not know is refused with argparse's
message naming the argument, filters and numbers are checked, every option says what it
is for, a missing setting is one line, and the project's .env is read in a bare shell."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from connector_dagster.cli import build_parser, main
from connector_dagster.lib.store import Audit, RecordRef, Store


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the command, which must be refused with exit code 2; its error line."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["db", "migrate", "--bogus"], "1 unexpected argument(s), not shown"),
        (["credentials", "list", "extra"], "1 unexpected argument(s), not shown"),
        (["credentials", "new-key", "--length", "3"], "2 unexpected argument(s), not shown"),
        (["failed", "list", "--period", "2026-8"], "argument --period: '2026-8' is not a period"),
        (["failed", "list", "--period", "2026-13"], "argument --period"),
        (["failed", "list", "--period", "2026-08-15"], "argument --period"),
        (["failed", "list", "--reason", "bogus"], "argument --reason: invalid choice: 'bogus'"),
        (["pools", "--limit", "-3"], "argument --limit: -3 is not in 1..100"),
        (["pools", "--limit", "0"], "argument --limit: 0 is not in 1..100"),
        (["pools", "--limit", "many"], "argument --limit: 'many' is not a whole number"),
        (["sandbox", "--faults", "/nonexistent.yaml"], "argument --faults: cannot read"),
        (["sandbox", "--ifs-port", "70000"], "argument --ifs-port: 70000 is not in 0..65535"),
        (["sandbox", "--scale", "0"], "argument --scale"),
        (["sandbox", "--latency-ms", "-1"], "argument --latency-ms"),
        (["bench", "st-writes", "--records", "0"], "argument --records"),
        (["bench", "tenants", "--connections", "1,0"], "argument --connections: '0' is not"),
        (["bench", "st-writes", "--connections", "2"], "--connections goes with tenants only"),
        (["bench", "f1-period", "--documents-per-request", "5"], "goes with ifs-postings-batch"),
        (["sandbox", "--tenants", "17"], "argument --tenants: 17 is not in 1..16"),
        (["dev", "--port", "0"], "argument --port: 0 is not in 1..65535"),
    ],
)
def test_wrong_arguments_are_refused_naming_the_argument(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refused(argv, capsys)
    assert line.startswith("connector-dagster ") and ": error: " in line
    assert named in line


def test_unknown_benchmark_lists_every_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(["bench", "nosuch"], capsys)
    assert "argument scenario: unknown scenario 'nosuch'" in line
    for name in ("st-writes", "ifs-writes-3workers", "limiter-grants", "sandbox-gets"):
        assert name in line


def test_a_fault_file_that_is_not_a_profile_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    faults = tmp_path / "faults.yaml"
    faults.write_text("rate_500: [oops\n")
    assert "is not valid YAML" in refused(["sandbox", "--faults", str(faults)], capsys)
    faults.write_text("rate_5000: 1\n")
    assert "unknown fault profile field(s): rate_5000" in refused(
        ["sandbox", "--faults", str(faults)], capsys
    )


def test_names_the_project_does_not_have_are_refused(
    db_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refused(["failed", "list", "--flow", "po"], capsys)
    assert (
        "argument --flow: unknown flow 'po' (the flows are: " in line and "purchase_orders" in line
    )
    assert "F1 purchase_orders" in line and "F5 st_purchase_orders" in line
    assert main(["failed", "list", "--flow", "F1"]) == 0  # the README's names work too
    capsys.readouterr()
    line = refused(["mappings", "list", "sandbox", "--kind", "vendor"], capsys)
    assert "argument --kind: unknown mapping kind 'vendor'" in line and "vendors" in line
    line = refused(["mappings", "load", "--connection", "nosuch"], capsys)
    assert "argument --connection: unknown connection 'nosuch'" in line and "sandbox" in line
    line = refused(["mappings", "set", "nosuch", "vendors", "V1", "1"], capsys)
    assert "argument connection: unknown connection 'nosuch'" in line
    line = refused(["credentials", "set", "acme", "ifs", "client_id"], capsys)
    assert "argument connection: unknown connection 'acme' (the connections are: sandbox)" in line


def test_a_secret_typed_on_the_command_line_is_refused_and_not_shown(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = refused(["credentials", "set", "sandbox", "ifs", "client_secret", "s3cr3t"], capsys)
    assert "1 unexpected argument(s), not shown" in line and "s3cr3t" not in line
    line = refused(["credentials", "set", "sandbox", "ifs", "client_secret", "--from-env",
                    "s3 cr3t"], capsys)  # fmt: skip
    assert "argument --from-env" in line and "s3 cr3t" not in line
    line = refused(["webhooks", "rotate-key", "sandbox", "newkey123"], capsys)
    assert "1 unexpected argument(s), not shown" in line and "newkey123" not in line


def test_failed_list_takes_a_period_as_year_and_month_or_as_its_partition_key(
    store: Store, db_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, period in (("PO-1", "2026-08-01"), ("PO-2", "2026-09-01")):
        store.record_failed(
            RecordRef("sandbox", "purchase_orders", key),
            reason="validation",
            message=f"PO {key!r} line 1/1: PartNo is empty",
            payload={},
            audit=Audit("fail", partition_key=period),
        )
    for period in ("2026-08", "2026-08-01"):
        assert main(["failed", "list", "--period", period]) == 0
        out = capsys.readouterr().out
        assert '"source_key": "PO-1"' in out and "PO-2" not in out
    assert main(["failed", "list", "--flow", "purchase_orders", "--reason", "validation"]) == 0
    assert capsys.readouterr().out.count("\n") == 2
    assert main(["failed", "list", "--reason", "conflict"]) == 0
    assert capsys.readouterr().out == ""


def _actions(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.Action]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _actions(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            found.append((path, action))
    return found


def test_every_option_and_argument_says_what_it_is_for() -> None:
    actions = _actions(build_parser(), "connector-dagster")
    assert len(actions) > 30
    silent = [f"{path} {a.option_strings or a.dest}" for path, a in actions if not a.help]
    assert silent == []


def bare_shell(tmp_path: Path, **env: str) -> dict[str, str]:
    """Only PATH and HOME, as in a new terminal, plus `env`; no .env unless given."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "CONNECTOR_ENV_FILE": str(tmp_path / "no.env"),
        **env,
    }


def run_cli(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connector_dagster.cli", *argv],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_a_missing_setting_is_one_line_naming_it_and_how_to_set_it(tmp_path: Path) -> None:
    for argv, variable in (
        (["credentials", "list"], "CONNECTOR_DATABASE_URL"),
        (["db", "migrate"], "CONNECTOR_DATABASE_URL"),
        (["pools"], "DAGSTER_HOME"),
    ):
        proc = run_cli(*argv, env=bare_shell(tmp_path))
        assert proc.returncode == 2
        assert proc.stderr.count("\n") == 1, proc.stderr
        assert proc.stderr.startswith(f"connector-dagster: {variable} is not set")
        assert "make dev" in proc.stderr


def test_the_project_env_file_is_read_in_a_bare_shell(
    db_env: str, master_key: str, tmp_path: Path
) -> None:
    env_file = tmp_path / "project.env"
    env_file.write_text(
        "# Written by `connector-dagster dev` (make dev)\n"
        f"CONNECTOR_DATABASE_URL='{db_env}'\nCONNECTOR_MASTER_KEY='{master_key}'\n"
    )
    env = bare_shell(tmp_path, CONNECTOR_ENV_FILE=str(env_file))
    proc = run_cli("credentials", "list", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("connection")


@pytest.mark.parametrize(
    "argv",
    [
        ["reconcile", "--connection", "sandbox", "--period", "2026-10"],
        ["webhooks", "status"],
        ["failed", "replay", "--connection", "sandbox"],
    ],
)
def test_a_command_without_make_dev_starts_no_database_and_says_so(
    argv: list[str], tmp_path: Path
) -> None:
    """Without `make dev` (no .env, no CONNECTOR_DATABASE_URL) a command starts no
    embedded PostgreSQL (it would be left running after the command): it says in one
    line how to point it at one, and nothing is left behind."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "CONNECTOR_DATABASE_URL"}
    env.update(DAGSTER_HOME=str(tmp_path / "home"), CONNECTOR_ENV_FILE=str(tmp_path / "no.env"))
    done = subprocess.run(
        [sys.executable, "-m", "connector_dagster.cli", *argv],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "CONNECTOR_DATABASE_URL is not set" in lines[0], lines
    assert "make dev" in lines[0]
    assert not (tmp_path / "home" / "pgdata").exists()
    postmasters = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True)
    assert postmasters.stdout.strip() == ""
