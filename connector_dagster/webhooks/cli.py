"""`connector-dagster webhooks serve | status | rotate-key`: run the receiver, show its
health (with the window of event times it takes), and change a connection's webhook
key with a grace period for the old one."""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any

from connector_dagster.cli.args import int_between
from connector_dagster.lib import db
from connector_dagster.lib.settings import ConfigError
from connector_dagster.lib.store import Store
from connector_dagster.systems.vault import Vault
from connector_dagster.webhooks.config import DEFAULT_PORT, ReceiverConfig, load_config
from connector_dagster.webhooks.config import registration_url as url_of
from connector_dagster.webhooks.health import health
from connector_dagster.webhooks.keys import key_state, rotate_key
from connector_dagster.webhooks.refusals import STATUS


def add_commands(sub: Any) -> None:
    """Add the `webhooks` command group to the CLI's sub-parsers. Each command's
    defaults name its function and parser, load the project's settings, and check a
    `connection` argument against the connections file."""
    group = sub.add_parser("webhooks", help="the ServiceTitan webhook receiver")
    hooks = group.add_subparsers(dest="webhooks", required=True, metavar="COMMAND")
    serve = _command(hooks, "serve", "serve /webhooks/<connection> for each connection", cmd_serve)
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
        "--public-url",
        help="the receiver's address as ServiceTitan reaches it (an https:// proxy), for the "
        "URLs printed to register; default http://HOST:PORT",
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning"],
        help="how much the receiver logs (never bodies, signatures or keys); default info",
    )
    status = _command(hooks, "status", "events received, refused and pending", cmd_status)
    status.add_argument("--json", action="store_true", help="one JSON object a connection")
    rotate = _command(
        hooks,
        "rotate-key",
        "store a new webhook key (stdin or --from-env); the old one stays valid for "
        "servicetitan.webhooks.key_grace_hours",
        cmd_rotate_key,
    )
    rotate.add_argument("connection", help="the connection whose webhook key is replaced")
    rotate.add_argument("--from-env", metavar="VAR", help="read the new key from this variable")
    rotate.add_argument("--grace-hours", type=float, help="override the connection's grace")


def _command(group: Any, name: str, help_text: str, fn: Any) -> argparse.ArgumentParser:
    parser = group.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(fn=fn, parser=parser, settings=True, known_connection=True)
    return parser


def cmd_serve(args: argparse.Namespace) -> int:
    import logging

    from connector_dagster.webhooks.server import serve

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    def announce(base: str, config: ReceiverConfig) -> None:
        print(f"webhook receiver listening on {base} (Ctrl-C stops it)")
        print("register these callback URLs in ServiceTitan's developer portal:")
        with closing(Store(db.database_url(), max_connections=1)) as store:
            vault = Vault(store)
            for name, endpoint in config.endpoints.items():
                print(
                    f"  {name}: {url_of(base, name)}  (signature header "
                    f"{endpoint.settings.signature_header}; {_keys(vault, name)})"
                )
        for name in config.disabled:
            print(f"  {name}: webhooks disabled (servicetitan.webhooks.enabled: false)")
        sys.stdout.flush()

    serve(args.host, args.port, announce, args.public_url)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    config = load_config()
    with closing(Store(db.database_url(), max_connections=1)) as store:
        vault = Vault(store)
        for entry in health(store, config.endpoints):
            settings = config.endpoints[entry.connection].settings
            window = {
                "max_event_age_hours": settings.max_event_age_hours,
                "max_event_ahead_s": settings.max_event_ahead_s,
            }
            if args.json:
                print(json.dumps({**entry.as_dict(), "event_window": window}))
                continue
            age = entry.oldest_pending_age_s
            refused = ", ".join(
                f"{reason} {n} ({STATUS.get(reason, '?')})"
                for reason, n in sorted(entry.refused.items())
            )
            print(
                f"{entry.connection}: received {entry.received}, redelivered "
                f"{entry.redelivered}, pending {entry.pending}"
                + (f" (oldest {age:.0f} s)" if age is not None else "")
                + f", refused {sum(entry.refused.values())}"
                + (f" ({refused})" if refused else "")
                + f"; {_keys(vault, entry.connection)}"
                + f"; events dated over {settings.max_event_age_hours:g} h ago or "
                f"{settings.max_event_ahead_s:g} s ahead refused"
            )
    return 0


def cmd_rotate_key(args: argparse.Namespace) -> int:
    config = load_config()
    endpoint = config.endpoints.get(args.connection)
    if endpoint is None:
        raise ConfigError(
            f"connection {args.connection!r} takes no webhooks; the connections that do are "
            f"{', '.join(sorted(config.endpoints)) or '(none)'}"
        )
    if args.from_env:
        secret = os.environ.get(args.from_env)
        if secret is None:
            raise ConfigError(f"environment variable {args.from_env} is not set")
    else:
        if sys.stdin.isatty():
            print(f"new webhook key for {args.connection}: ", end="", flush=True)
        secret = sys.stdin.readline().rstrip("\r\n")
    hours = args.grace_hours if args.grace_hours is not None else endpoint.settings.key_grace_hours
    with closing(Store(db.database_url(), max_connections=1)) as store:
        until = rotate_key(Vault(store), args.connection, secret, timedelta(hours=hours))
    print(
        f"{args.connection}: new webhook key stored"
        + (f"; the previous key is accepted until {_utc(until)}" if until else "")
    )
    return 0


def _keys(vault: Vault, connection: str) -> str:
    state = key_state(vault, connection)
    if not state.current:
        return (
            "NO webhook key in the vault: `connector-dagster credentials set "
            f"{connection} servicetitan webhook_key`"
        )
    if state.previous_until is not None:
        return f"webhook key set; previous key accepted until {_utc(state.previous_until)}"
    return "webhook key set"


def _utc(instant: datetime) -> str:
    return f"{instant.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
