"""`connector-dagster failed`: records that could not be synced: list, replay, resolve, ignore."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter

from connector_dagster.cli.args import (
    period,
)
from connector_dagster.cli.common import command, open_store
from connector_dagster.lib.store import REASONS


def cmd_failed_list(args: argparse.Namespace) -> int:
    rows = open_store().failed(
        connection=args.connection, flow=args.flow, partition_key=args.period, reason=args.reason
    )
    for r in rows:
        record = {
            "id": r.id,
            "connection": r.connection,
            "flow": r.flow,
            "source_key": r.source_key,
            "period": r.partition_key,
            "reason": r.reason,
            "message": r.message,
            "attempts": r.attempts,
        }
        print(json.dumps(record, ensure_ascii=False))
    print(_failed_summary(rows, args), file=sys.stderr)
    return 0


def _failed_summary(rows: list, args: argparse.Namespace) -> str:
    """The list in one line (on stderr: stdout stays one JSON object a line)."""
    where = ", ".join(
        f"{name} {value}"
        for name, value in (("connection", args.connection), ("flow", args.flow),
                            ("period", args.period and args.period[:7]), ("reason", args.reason))
        if value
    )  # fmt: skip
    scope = f" ({where})" if where else ""
    if not rows:
        return f"no open failed record{scope}"
    reasons = Counter(r.reason for r in rows)
    periods = len({(r.connection, r.flow, r.partition_key) for r in rows})
    why = ", ".join(f"{n} {reason}" for reason, n in reasons.most_common())
    return f"{len(rows)} open failed record(s){scope} in {periods} flow period(s): {why}"


def cmd_failed_replay(args: argparse.Namespace) -> int:
    """Replay the selected failed records; one JSON line per flow and period; exit 1
    when some failed again (they stay, one attempt more)."""
    from connector_dagster.engine.replay import replay
    from connector_dagster.engine.session import Session

    with Session.open(args.connection) as session:
        results = replay(session, args.flow, args.period, args.reason, args.key or None)
        _report_clean_periods(session, results)
    for result in results:
        print(json.dumps(result.as_dict(), ensure_ascii=False))
    if not results:
        print("connector-dagster: no open failed record matches", file=sys.stderr)
    else:
        replayed = sum(len(r.replayed) for r in results)
        resolved = sum(len(r.resolved) + len(r.not_synced) for r in results)
        again = sum(len(r.failed_again) + len(r.gone) for r in results)
        print(
            f"replayed {replayed} failed record(s) of {len(results)} flow period(s): "
            f"{resolved} resolved, {again} still failed",
            file=sys.stderr,
        )
    return 1 if any(r.failed_again or r.gone for r in results) else 0


def cmd_failed_set_aside(args: argparse.Namespace) -> int:
    """`failed resolve|ignore`: close the named failed records with a note and a name;
    one line per record, then what each period has left."""
    from connector_dagster.engine.set_aside import decide, open_left, report_to_dagster

    store = open_store()
    decision = decide(
        store, args.connection, args.resolution, args.note, args.by, args.key, flow=args.flow
    )
    for r in decision.records:
        print(
            f"{decision.resolution} {r.source_key} ({r.flow}, {(r.partition_key or '')[:7]}, "
            f"{r.reason}) by {decision.by}"
        )
    for (flow, key), left in open_left(store, decision).items():
        state = "none left: the period counts as clean" if not left else f"{left} still open"
        print(f"{flow} {key[:7]}: open failed records: {state}")
    for r in decision.untracked:
        print(
            f"connector-dagster: {r.source_key} failed before the connector recorded which "
            "version failed: the next run tries it again; if it fails again, set it aside "
            "again (for good)",
            file=sys.stderr,
        )
    report_to_dagster(store, decision)
    return 0


def _report_clean_periods(session: object, results: list) -> None:
    """Tell Dagster (when this shell has its instance, DAGSTER_HOME) about each replayed
    period left with no failed record, so its partition shows the period's totals."""
    if not os.environ.get("DAGSTER_HOME"):
        return
    import dagster as dg

    from connector_dagster.defs.operations.replay import clean_periods

    with dg.DagsterInstance.get() as instance:
        for event in clean_periods(session, results):  # type: ignore[arg-type]
            instance.report_runless_asset_event(event)


def add(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser("failed", help="records that could not be synced").add_subparsers(
        dest="failed", required=True, metavar="COMMAND"
    )
    p = command(group, "list", "open failed records, one JSON object a line", cmd_failed_list)
    p.add_argument("--connection", help="only this connection's records")
    p.add_argument("--flow", help="only this flow's records, e.g. purchase_orders")
    p.add_argument("--period", type=period, help="only this period: YYYY-MM or YYYY-MM-01")
    p.add_argument(
        "--reason",
        choices=REASONS,
        metavar="REASON",
        help=f"only records failed for this reason: {', '.join(REASONS)}",
    )
    p = command(
        group,
        "replay",
        "re-read, re-map and re-write failed records (exit 1 if some fail again)",
        cmd_failed_replay,
    )
    p.add_argument("--connection", required=True, help="the connection whose records to replay")
    p.add_argument("--flow", help="only this flow's records, e.g. purchase_orders")
    p.add_argument("--period", type=period, help="only this period: YYYY-MM or YYYY-MM-01")
    p.add_argument(
        "--reason",
        choices=REASONS,
        metavar="REASON",
        help=f"only records failed for this reason: {', '.join(REASONS)}",
    )
    p.add_argument(
        "--key", action="append", help="only this source key (repeatable), e.g. PO-2026-00042"
    )
    for name, resolution, what in (
        ("resolve", "resolved", "handled outside the connector (e.g. corrected by hand)"),
        ("ignore", "ignored", "that need not be synced (e.g. a change to a Closed PO)"),
    ):
        p = command(
            group, name, f"close failed records {what}, with a note and a name; their "
            "periods count as clean until the records change", cmd_failed_set_aside,
        )  # fmt: skip
        p.set_defaults(resolution=resolution)
        p.add_argument("key", nargs="+", metavar="KEY", help="source key, e.g. PO-2026-00157")
        p.add_argument("--connection", required=True, help="the records' connection")
        p.add_argument("--flow", help="the records' flow, when a key fails in several")
        p.add_argument("--note", required=True, help="why (kept in the audit trail)")
        p.add_argument("--by", required=True, help="who decides (kept in the audit trail)")
