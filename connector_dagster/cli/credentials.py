"""`connector-dagster credentials`: the encrypted credential vault."""

from __future__ import annotations

import argparse
import os
import sys

from connector_dagster import systems
from connector_dagster.cli.args import (
    variable_name,
)
from connector_dagster.cli.common import command, open_store
from connector_dagster.lib.settings import (
    MASTER_KEY_VAR,
    ConfigError,
)


def cmd_credentials_set(args: argparse.Namespace) -> int:
    from connector_dagster.systems.vault import Vault

    if args.from_env:
        secret = os.environ.get(args.from_env)
        if secret is None:
            raise ConfigError(f"environment variable {args.from_env} is not set")
    else:
        if sys.stdin.isatty():
            print(f"value for {args.connection}/{args.system}/{args.field}: ", end="", flush=True)
        secret = sys.stdin.readline().rstrip("\r\n")
    Vault(open_store()).set(args.connection, args.system, args.field, secret)
    print(f"stored {args.connection}/{args.system}/{args.field}")
    return 0


def cmd_credentials_list(args: argparse.Namespace) -> int:
    from connector_dagster.systems.vault import Vault

    rows = Vault(open_store()).list()
    print(f"{'connection':<16} {'system':<13} {'field':<14} {'value':<9} updated")
    for r in rows:
        print(
            f"{r.connection:<16} {r.system:<13} {r.field:<14} {r.masked:<9} {r.updated_at:%F %T%z}"
        )
    return 0


def cmd_credentials_rotate(args: argparse.Namespace) -> int:
    from connector_dagster.systems.vault import Vault

    count = Vault(open_store()).rotate()
    print(
        f"re-encrypted {count} credential(s) under the first key of {MASTER_KEY_VAR}; "
        "the other keys can now be removed"
    )
    return 0


def cmd_credentials_new_key(args: argparse.Namespace) -> int:
    from cryptography.fernet import Fernet

    print(Fernet.generate_key().decode())
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser("credentials", help="the encrypted credential vault").add_subparsers(
        dest="credentials", required=True, metavar="COMMAND"
    )
    p = command(
        group,
        "set",
        "store a secret read from stdin or an env variable",
        cmd_credentials_set,
    )
    p.add_argument("connection", help="the connection's name, e.g. sandbox")
    p.add_argument(
        "system", choices=systems.names(), help=f"whose credential: {' or '.join(systems.names())}"
    )
    p.add_argument(
        "field", help="client_id, client_secret; for servicetitan also app_key, webhook_key"
    )
    p.add_argument(
        "--from-env",
        metavar="VAR",
        type=variable_name,
        help="read the value from this environment variable instead of stdin",
    )
    command(group, "list", "list credentials, secrets masked", cmd_credentials_list)
    command(group, "rotate", "re-encrypt every row under the first key", cmd_credentials_rotate)
    command(group, "new-key", "print a new Fernet key", cmd_credentials_new_key, settings=False)
