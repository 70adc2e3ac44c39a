"""`connector-dagster finance serve`: finance's page on its own, for deployments."""

from __future__ import annotations

import argparse
from typing import Any

from connector_dagster.cli.args import int_between
from connector_dagster.finance.access import TOKEN_VAR


def add_commands(sub: Any) -> None:
    from connector_dagster.finance.server import DEFAULT_PORT

    group = sub.add_parser("finance", help="finance's page: periods, failed records, traces")
    commands = group.add_subparsers(dest="finance", required=True, metavar="COMMAND")
    help_text = (
        "serve finance's page (the grid of periods x flows, failed records, traces); "
        f"beyond 127.0.0.1 it needs {TOKEN_VAR} and asks for it as a login"
    )
    serve = commands.add_parser("serve", help=help_text, description=help_text)
    serve.set_defaults(fn=cmd_serve, parser=serve, settings=True, known_connection=True)
    serve.add_argument("--connection", help="show only this connection (default: every one)")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument(
        "--port",
        type=int_between(0, 65535),
        default=DEFAULT_PORT,
        help=f"port to listen on, 0 for a free one (default {DEFAULT_PORT})",
    )
    serve.add_argument(
        "--dagster-url", help="the Dagster UI's address, to link each run (e.g. http://host:3000)"
    )


def cmd_serve(args: argparse.Namespace) -> int:
    from connector_dagster.finance.server import serve

    def announce(base: str) -> None:
        print(f"finance's page on {base}/ (Ctrl-C stops it)", flush=True)

    serve(args.host, args.port, args.connection, args.dagster_url, announce)
    return 0
