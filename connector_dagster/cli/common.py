"""What every command group uses: the connector's database and a subcommand's defaults."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from connector_dagster.lib import db
from connector_dagster.lib.settings import (
    DATABASE_URL_VAR,
    require,
)


def database_url() -> str:
    """The connector's database: a shell command never starts a server of its own."""
    return db.validate_url(require(DATABASE_URL_VAR, "the connector's PostgreSQL URL"))


def open_store():
    from connector_dagster.lib.store import Store

    return Store(database_url())


def command(
    group: argparse._SubParsersAction,
    name: str,
    help_text: str,
    fn: Callable[[argparse.Namespace], int],
    *,
    settings: bool = True,
    known_connection: bool = True,
) -> argparse.ArgumentParser:
    """A subcommand running `fn`; with `settings`, the project's .env is loaded first;
    with `known_connection`, a `connection` argument must name one of the connections."""
    parser = group.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(fn=fn, parser=parser, settings=settings, known_connection=known_connection)
    return parser
