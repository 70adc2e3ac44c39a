"""`connector-dagster`: operate the connector from a shell.

Each command group is a module of this package (`database`, `credentials`, `failed`,
`reconcile`, `variance`, `mappings`, `pools`, `sandbox`, `bench`, `dev`; `webhooks` and `finance`
live with what they operate) with an `add(sub)` that adds its commands to the parser;
a command is a `cmd_*` function taking the parsed arguments and returning the exit
code.
"""

from __future__ import annotations

import argparse
import sys

from connector_dagster.cli.args import check_names
from connector_dagster.lib import db
from connector_dagster.lib.settings import ConfigError, load_env_file


def build_parser() -> argparse.ArgumentParser:
    from connector_dagster.cli import (
        bench,
        credentials,
        database,
        dev,
        failed,
        mappings,
        pools,
        reconcile,
        sandbox,
        variance,
    )
    from connector_dagster.finance import cli as finance_cli
    from connector_dagster.onboarding import cli as onboarding_cli
    from connector_dagster.webhooks import cli as webhooks_cli

    parser = argparse.ArgumentParser(prog="connector-dagster", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        database.add,
        credentials.add,
        failed.add,
        reconcile.add,
        variance.add,
        pools.add,
        mappings.add,
        sandbox.add,
        bench.add,
        dev.add,
        webhooks_cli.add_commands,
        finance_cli.add_commands,
        onboarding_cli.add_commands,
    ):
        add(sub)
    return parser


def _parse(argv: list[str] | None) -> argparse.Namespace:
    args, extra = build_parser().parse_known_args(argv)
    if extra:
        # Never echoed, whatever the command: an argument too many may be a secret
        # typed on the command line (`webhooks rotate-key C <key>`), and must not
        # reach a terminal's scrollback or a log.
        args.parser.error(
            f"{len(extra)} unexpected argument(s), not shown: secrets are read from "
            "stdin or --from-env VAR, never from the command line"
        )
    if args.settings:
        load_env_file()
    if not getattr(args, "starts_database", False):
        db.never_start_embedded()  # only `make dev` starts (and stops) the embedded server
    check_names(args)
    return args


def main(argv: list[str] | None = None) -> int:
    from connector_dagster.systems.vault import VaultError

    try:
        args = _parse(argv)
        return args.fn(args)
    except SystemExit as exc:  # argparse: --help, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else 2
    except (ConfigError, VaultError) as exc:
        print(f"connector-dagster: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("connector-dagster: interrupted", file=sys.stderr)
        return 130
