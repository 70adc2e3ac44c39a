"""`connector-dagster mappings`: the mapping tables."""

from __future__ import annotations

import argparse
import json
import sys

from connector_dagster.cli.common import command, open_store
from connector_dagster.lib.settings import (
    ConfigError,
)
from connector_dagster.onboarding import cli as onboarding_cli


def cmd_mappings_load(args: argparse.Namespace) -> int:
    from connector_dagster.engine import registry
    from connector_dagster.lib import mapping

    store = open_store()
    for name, conn in registry.load_connections().items():
        if args.connection in (None, name):
            version = mapping.ensure_loaded(store, name, conn.mappings, registry.tables())
            print(f"{name}: mappings version {version}")
            for problem in mapping.load(store, name, registry.tables()).problems():
                print(
                    f"connector-dagster: {name}: mapping entry {problem}; the records that "
                    "need it are parked (mapping_missing) until it is corrected",
                    file=sys.stderr,
                )
    return 0


def cmd_mappings_set(args: argparse.Namespace) -> int:
    from connector_dagster.engine import registry
    from connector_dagster.lib import mapping

    try:
        target = json.loads(args.target)
    except ValueError:
        raise ConfigError(
            f"target {args.target!r} is not JSON (an id like 3101, or an object in quotes)"
        ) from None
    store = open_store()
    version = mapping.set_entry(
        store, args.connection, args.kind, args.source, target, registry.tables()
    )
    print(f"{args.connection}: {args.kind}[{args.source!r}] = {args.target} (version {version})")
    return 0


def cmd_mappings_list(args: argparse.Namespace) -> int:
    from connector_dagster.engine import registry
    from connector_dagster.lib import mapping

    maps = mapping.load(open_store(), args.connection)
    print(f"# {args.connection} mappings version {maps.version}")
    for kind in (t.kind for t in registry.tables()):
        if args.kind in (None, kind):
            for source, target in sorted(maps.table(kind).items()):
                print(f"{kind}\t{source}\t{json.dumps(target, ensure_ascii=False)}")
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser(
        "mappings", help="IFS code -> ServiceTitan id mapping tables"
    ).add_subparsers(dest="mappings", required=True, metavar="COMMAND")
    p = command(
        group, "load", "load each connection's mapping file if its version is new",
        cmd_mappings_load,
    )  # fmt: skip
    p.add_argument("--connection", help="only this connection")
    p = command(group, "set", "add or change one entry (a new version)", cmd_mappings_set)
    p.add_argument("connection", help="a connection of the connections file, e.g. sandbox")
    p.add_argument("kind", help="the table: vendors, sites, tax_codes, parts, ...")
    p.add_argument("source", help="the IFS code, e.g. V1001")
    p.add_argument("target", help="JSON: the ServiceTitan id or object; null removes the entry")
    p = command(group, "list", "the entries in force", cmd_mappings_list)
    p.add_argument("connection", help="a connection of the connections file, e.g. sandbox")
    p.add_argument("--kind", help="only this table: vendors, sites, tax_codes, parts, ...")
    onboarding_cli.add_mapping_commands(group)
