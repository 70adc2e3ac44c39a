"""`connector-dagster bench`: run a benchmark scenario."""

from __future__ import annotations

import argparse
import json

from connector_dagster.cli.args import (
    bench_scenario,
    connection_counts,
    float_between,
    int_between,
)
from connector_dagster.cli.common import command


def cmd_bench(args: argparse.Namespace) -> int:
    from connector_dagster import bench

    if args.documents_per_request is not None and args.scenario != "ifs-postings-batch":
        args.parser.error("--documents-per-request goes with ifs-postings-batch only")
    if args.connections is not None and args.scenario != "tenants":
        args.parser.error("--connections goes with tenants only")
    result = bench.run(
        args.scenario,
        args.records,
        args.latency_ms,
        args.documents_per_request,
        connections=args.connections,
    )
    print(json.dumps(result), flush=True)
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub, "bench", "run a benchmark scenario; prints one JSON object", cmd_bench, settings=False
    )
    p.add_argument(
        "scenario",
        type=bench_scenario,
        help="st-writes, ifs-writes, st-writes-faults, ifs-writes-faults, st-writes-3workers, "
        "ifs-writes-3workers, limiter-grants, sandbox-gets, f1-period (a period of "
        "--records POs, default 300, through the Dagster assets), ifs-postings and "
        "ifs-postings-batch (--records invoices posted to IFS by F3, $batch off and on), "
        "st-invoice-read (F3's reads of a period of --records invoices), webhooks-load "
        "(--records signed events, default 10000, 10%% duplicates, from 50 clients into "
        "the webhook receiver), variance (a period's AP and inventory variance report at "
        "--scale 10, or --records bills a month) or tenants (F1's period of --records POs, "
        "default 1000, for each of --connections connections at once, each on a tenant of "
        "its own)",
    )
    p.add_argument(
        "--records", type=int_between(1, 100000), help="how many records to write, 1..100000"
    )
    p.add_argument(
        "--documents-per-request",
        type=int_between(1, 100),
        help="ifs-postings-batch: documents per IFS $batch, 1..100 (default: the "
        "connection's ifs.batch_documents, 10)",
    )
    p.add_argument(
        "--latency-ms",
        type=float_between(0, 60000),
        help="sandbox latency in milliseconds (default 100)",
    )
    p.add_argument(
        "--connections",
        type=connection_counts,
        metavar="N,N,...",
        help="tenants: the rounds' counts of connections syncing at once (default 1,2,4)",
    )
