"""`connector-dagster reconcile`: a period counted in the source, the target and the ledger."""

from __future__ import annotations

import argparse
import json

from connector_dagster.cli.args import (
    period,
)
from connector_dagster.cli.common import command


def cmd_reconcile(args: argparse.Namespace) -> int:
    """Print a period's reconciliation (text or JSON); exit 1 when it does not reconcile."""
    from connector_dagster.engine.link import Link
    from connector_dagster.engine.reconcile import reconcile
    from connector_dagster.engine.reconcile_report import text

    with Link.open(args.connection) as link:
        results = reconcile(link, args.period)
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
    p.add_argument(
        "--format", choices=("text", "json"), default="text", help="text (default) or json"
    )
