"""`connector-dagster check`: the onboarding commands."""

from __future__ import annotations

import argparse
from typing import Any


def _command(group: Any, name: str, help_text: str, fn: Any) -> argparse.ArgumentParser:
    parser = group.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(fn=fn, parser=parser, settings=True, known_connection=True)
    parser.add_argument("--connection", required=True, help="a connection, e.g. sandbox")
    return parser


def add_commands(sub: Any) -> None:
    p = _command(
        sub, "check",
        "read-only: do the connection's tenants fit its enabled flows? (tokens, tenant, "
        "app key, each projection, entity set, field and endpoint a flow uses)",
        cmd_check,
    )  # fmt: skip
    p.add_argument("--format", choices=("text", "json"), default="text", help="text or json")


def cmd_check(args: argparse.Namespace) -> int:
    from connector_dagster.engine.link import Link
    from connector_dagster.onboarding import findings
    from connector_dagster.onboarding.check import check

    with Link.open(args.connection) as link:
        found = check(link)
    print(findings.as_json(found) if args.format == "json" else findings.as_text(found))
    return 1 if findings.blocked_flows(found) or any(not f.ok for f in found) else 0
