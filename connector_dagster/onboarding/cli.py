"""`connector-dagster check` and `mappings suggest|coverage`: the onboarding commands."""

from __future__ import annotations

import argparse
from typing import Any

from connector_dagster.cli.args import period


def _command(
    group: Any, name: str, help_text: str, fn: Any, connection_required: bool = True
) -> argparse.ArgumentParser:
    parser = group.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(fn=fn, parser=parser, settings=True, known_connection=True)
    parser.add_argument(
        "--connection", required=connection_required, help="a connection, e.g. sandbox"
    )
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
        "propose mapping entries from both systems' master data (read from the "
        "connection's systems, or from files with --master-data), for review",
        cmd_suggest, connection_required=False,
    )  # fmt: skip
    p.add_argument("--out", help="the review file to write (default: print it)")
    p.add_argument(
        "--master-data",
        metavar="DIR",
        help="read master data from DIR, one JSON or CSV file per list (ifs_suppliers.csv, "
        "st_vendors.json, ...; see the README), offline: no credentials, no database; "
        "with --connection, its enabled flows' tables and its mapping file, else every table",
    )
    p.add_argument(
        "--mappings",
        metavar="FILE",
        help="with --master-data: the mapping file whose entries stay as they are "
        "(default: the connection's, else none)",
    )
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
    from connector_dagster.onboarding.suggest import review_file

    if args.master_data:
        suggestions, name = _suggest_from_files(args)
    elif args.connection:
        from connector_dagster.engine.session import Session
        from connector_dagster.onboarding.suggest import suggest

        with Session.open(args.connection) as session:
            suggestions, name = suggest(session), f"connection {session.name}"
    else:
        args.parser.error("give --connection C, or --master-data DIR to read files offline")
    if args.mappings and not args.master_data:
        args.parser.error("--mappings goes with --master-data (a connection has its own)")
    text = review_file(name, suggestions)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            out.write(text)
        print(f"{name}: {suggestions.summary()}; review file {args.out}")
    else:
        print(text, end="")
    return 0


def _suggest_from_files(args: argparse.Namespace) -> tuple[Any, str]:
    """Suggestions from master data files: no system asked, no database opened."""
    from connector_dagster.engine import registry
    from connector_dagster.lib import mapping
    from connector_dagster.onboarding.master import FileMaster
    from connector_dagster.onboarding.suggest import needed_tables, suggest_from

    conn = registry.connection(args.connection) if args.connection else None
    path = args.mappings or (conn.mappings if conn is not None else None)
    maps = mapping.load_file(path, registry.tables()) if path else mapping.Mappings("new")
    company = conn.system("ifs").company if conn is not None and "ifs" in conn.systems else None
    master = FileMaster(args.master_data, company)
    found = suggest_from(master, maps, needed_tables(conn.flows if conn is not None else None))
    who = f" for connection {conn.name}" if conn is not None else ""
    return found, f"master data in {args.master_data}{who}"


def cmd_coverage(args: argparse.Namespace) -> int:
    from connector_dagster.engine.session import Session
    from connector_dagster.onboarding.coverage import as_json, as_text, coverage

    with Session.open(args.connection) as session:
        result = coverage(session, args.period)
    print(as_json(result) if args.format == "json" else as_text(result))
    return 0
