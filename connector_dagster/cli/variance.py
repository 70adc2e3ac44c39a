"""`connector-dagster variance`: a period's purchase orders set against its AP and
inventory bills and receipts, per vendor and site."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from connector_dagster.cli.args import period
from connector_dagster.cli.common import command


def cmd_variance(args: argparse.Namespace) -> int:
    """Print (or write to --output) the period's variance report; its summary line first."""
    from connector_dagster.cli.reconcile import in_range
    from connector_dagster.engine.records import Period
    from connector_dagster.engine.session import Session
    from connector_dagster.kits.variance import variance
    from connector_dagster.kits.variance.render import RENDER

    with Session.open(args.connection) as session:
        in_range(session.connection, args.period, "report")
        report = variance(session, Period.parse(args.period))
    body = RENDER[args.format](report)
    if args.output is not None:
        args.output.write_text(body if body.endswith("\n") else body + "\n", encoding="utf-8")
        print(f"{report.summary()}; {args.format} written to {args.output}")
    elif args.format in ("text", "markdown"):
        print(body)  # begins with the summary line
    else:
        print(report.summary(), file=sys.stderr)  # stdout stays one CSV or JSON document
        sys.stdout.write(body if body.endswith("\n") else body + "\n")
    return 0


def output_file(text: str) -> Path:
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a folder; name a file in it")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"the folder {path.parent} does not exist; create it")
    return path


def add(sub: argparse._SubParsersAction) -> None:
    from connector_dagster.kits.variance.render import FORMATS

    p = command(
        sub,
        "variance",
        "a period's AP and inventory variance: purchase orders against bills and receipts, "
        "per vendor and site",
        cmd_variance,
    )
    p.add_argument("--connection", required=True, help="the connection to report on")
    p.add_argument("--period", type=period, required=True, help="the period: YYYY-MM or YYYY-MM-01")
    p.add_argument(
        "--format", choices=FORMATS, default="text", help="text (default), markdown, csv or json"
    )
    p.add_argument("--output", type=output_file, help="write the report to this file")
