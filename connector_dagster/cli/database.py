"""`connector-dagster db`: the connector's database schema."""

from __future__ import annotations

import argparse

from connector_dagster.cli.common import command, database_url
from connector_dagster.lib import migrate


def cmd_db_migrate(args: argparse.Namespace) -> int:
    applied = migrate.migrate(database_url())
    print(f"applied {len(applied)} migration(s){': ' + ', '.join(applied) if applied else ''}")
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser("db", help="the connector's database schema").add_subparsers(
        dest="db", required=True, metavar="COMMAND"
    )
    command(group, "migrate", "apply missing migrations (idempotent)", cmd_db_migrate)
