"""`connector-dagster reconcile`: a period counted in the source, the target and the ledger."""

from __future__ import annotations

import argparse
import json

from connector_dagster.cli.args import (
    period,
)
from connector_dagster.cli.common import command
from connector_dagster.lib.settings import ConfigError


def cmd_reconcile(args: argparse.Namespace) -> int:
    """Print a period's reconciliation (text or JSON); exit 1 when it does not reconcile."""
    from connector_dagster.engine.reconcile import reconcile
    from connector_dagster.engine.reconcile_report import text
    from connector_dagster.engine.session import Session

    with Session.open(args.connection) as session:
        in_range(session.connection, args.period)
        if args.flow is not None and session.connection.flow(args.flow) is None:
            raise ConfigError(f"connection {args.connection!r} does not run flow {args.flow!r}")
        results = reconcile(session, args.period, args.flow)
    if args.format == "json":
        report = {
            "connection": args.connection,
            "period": args.period[:7],
            "reconciles": all(r.reconciles for r in results),
            "flows": [r.as_dict() for r in results],
        }
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(text(args.period, results))
    return 0 if all(r.reconciles for r in results) else 1


def in_range(conn: object, period_key: str, what: str = "reconcile") -> None:
    """ConfigError unless the period is one of the connection's (from its start_period to
    the open month): a period outside has nothing to reconcile, which is not "reconciles"."""
    from connector_dagster.engine.periods import period_partitions

    keys = period_partitions(conn).get_partition_keys()  # type: ignore[arg-type]
    if period_key not in keys:
        raise ConfigError(
            f"period {period_key[:7]} is outside connection {conn.name!r}'s periods "  # type: ignore[attr-defined]
            f"({keys[0][:7]} .. {keys[-1][:7]}; start_period in the connections file); "
            f"nothing to {what} there"
        )


def add(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub,
        "reconcile",
        "a period counted in the source, the target and the ledger (exit 1 if it does not "
        "reconcile)",
        cmd_reconcile,
    )
    p.add_argument("--connection", required=True, help="the connection to reconcile")
    p.add_argument("--period", type=period, required=True, help="the period: YYYY-MM or YYYY-MM-01")
    p.add_argument("--flow", help="only this flow: its name (purchase_orders) or F1 .. F5")
    p.add_argument(
        "--format", choices=("text", "json"), default="text", help="text (default) or json"
    )
