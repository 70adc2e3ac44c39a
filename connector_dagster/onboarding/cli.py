"""`connector-dagster check` and `mappings suggest|coverage`: the onboarding commands."""

from __future__ import annotations

import argparse
from typing import Any

from connector_dagster.cli.args import period


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


def add_mapping_commands(group: Any) -> None:
    """`suggest` and `coverage` under `connector-dagster mappings`."""
    p = _command(
        group, "suggest",
        "propose mapping entries from both systems' master data, for review",
        cmd_suggest,
    )  # fmt: skip
    p.add_argument("--out", help="the review file to write (default: print it)")
    p = _command(
        group, "coverage",
        "per flow, how many records of a period would write and how many would park, "
        "grouped by the missing mapping entry",
        cmd_coverage,
    )  # fmt: skip
    p.add_argument("--period", required=True, type=period, help="YYYY-MM")
    p.add_argument("--format", choices=("text", "json"), default="text", help="text or json")


def cmd_check(args: argparse.Namespace) -> int:
    from connector_dagster.engine.session import Session
    from connector_dagster.onboarding import findings
    from connector_dagster.onboarding.check import check

    with Session.open(args.connection) as session:
        found = check(session)
    print(findings.as_json(found) if args.format == "json" else findings.as_text(found))
    return 1 if findings.blocked_flows(found) or any(not f.ok for f in found) else 0


def cmd_suggest(args: argparse.Namespace) -> int:
    from connector_dagster.engine.session import Session
    from connector_dagster.onboarding.suggest import review_file, suggest

    with Session.open(args.connection) as session:
        suggestions = suggest(session)
        text = review_file(session, suggestions)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            out.write(text)
        print(f"{args.connection}: {suggestions.summary()}; review file {args.out}")
    else:
        print(text, end="")
    return 0


def cmd_coverage(args: argparse.Namespace) -> int:
    from connector_dagster.engine.session import Session
    from connector_dagster.onboarding.coverage import as_json, as_text, coverage

    with Session.open(args.connection) as session:
        result = coverage(session, args.period)
    print(as_json(result) if args.format == "json" else as_text(result))
    return 0
