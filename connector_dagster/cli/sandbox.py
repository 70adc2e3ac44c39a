"""`connector-dagster sandbox`: serve the IFS and ServiceTitan simulators."""

from __future__ import annotations

import argparse
from typing import Any

from connector_dagster.cli.args import (
    SANDBOX_PORT,
    SCALE,
    faults_file,
    float_between,
    int_between,
    period_invoices,
    period_orders,
    sandbox_clock,
    state_file,
)
from connector_dagster.cli.common import command
from connector_dagster.lib.settings import (
    ConfigError,
)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from connector_dagster.sandbox.server import serve

    config = _config(args)
    try:
        serve(config, args.faults)
    except OSError as exc:
        raise ConfigError(
            f"the sandbox cannot listen on {config.host} ports {config.ifs_port} and "
            f"{config.st_port}: {exc.strerror}; choose others with --ifs-port and --st-port"
        ) from None
    return 0


def _config(args: argparse.Namespace) -> Any:
    """The sandbox's configuration; ConfigError (one line) when it cannot be served."""
    from connector_dagster.sandbox.server import SandboxConfig

    first = int(SandboxConfig.st_tenant_id)
    try:
        return SandboxConfig(
            ifs_port=args.ifs_port,
            st_port=args.st_port,
            seed=args.seed,
            scale=args.scale,
            period_orders=dict(args.period_orders or ()),
            period_invoices=dict(args.period_invoices or ()),
            latency_ms=args.latency_ms,
            now=args.now,
            state_file=args.state_file,
            tenants=[{"st_tenant_id": str(first + i)} for i in range(1, args.tenants)],
        )
    except ValueError as exc:
        raise ConfigError(f"sandbox: {exc}") from None


def add(sub: argparse._SubParsersAction) -> None:

    p = command(
        sub, "sandbox", "serve the IFS and ServiceTitan simulators", cmd_sandbox, settings=False
    )
    add_sandbox_data(p)
    p.add_argument(
        "--period-orders",
        type=period_orders,
        action="append",
        metavar="YYYY-MM=N",
        help="seed N IFS purchase orders in that month instead of about 40 x --scale (up to "
        "1,000,000; repeat for more months): one large period beside a small history",
    )
    p.add_argument(
        "--period-invoices",
        type=period_invoices,
        action="append",
        metavar="YYYY-MM=N",
        help="seed N ServiceTitan invoices, each with its items and job, in that month "
        "instead of 60 x --scale (up to 1,000,000; repeat for more months)",
    )
    p.add_argument(
        "--latency-ms",
        type=float_between(0, 60000),
        default=0.0,
        help="added to every response, in milliseconds; default 0",
    )
    p.add_argument(
        "--faults",
        type=faults_file,
        help="fault profile (JSON or YAML; one for both, or under `ifs:` and `servicetitan:`)",
    )
    p.add_argument(
        "--now",
        type=sandbox_clock,
        help="the sandbox's clock, an ISO 8601 instant such as 2026-06-15T12:00:00Z: no "
        "record is seeded dated after it (default: the real time at start)",
    )
    p.add_argument(
        "--tenants",
        type=int_between(1, 16),
        default=1,
        help="serve N tenants at once, each with its own data, credentials and ceilings: "
        "ServiceTitan tenants 1234567, 1234568, ... on --st-port, each IFS on a free port "
        "of its own (the JSON line lists them under `tenants`); default 1",
    )
    p.add_argument(
        "--state-file",
        type=state_file,
        metavar="PATH",
        help="keep the simulators' data in this file: loaded at start when it was written for "
        "the same --seed, --scale and --now (else seeded afresh), saved every 30 s and on "
        "stop; delete it or POST /_sandbox/reset to start from the seed again",
    )


def add_sandbox_data(p: argparse.ArgumentParser) -> None:
    """The simulators' ports and seeded data, alike for `sandbox` and `dev`."""
    from connector_dagster.sandbox.config import DEFAULT_IFS_PORT, DEFAULT_ST_PORT

    p.add_argument(
        "--ifs-port",
        type=SANDBOX_PORT,
        default=DEFAULT_IFS_PORT,
        help=f"port of the IFS simulator (0: a free one); default {DEFAULT_IFS_PORT}",
    )
    p.add_argument(
        "--st-port",
        type=SANDBOX_PORT,
        default=DEFAULT_ST_PORT,
        help=f"port of the ServiceTitan simulator (0: a free one); default {DEFAULT_ST_PORT}",
    )
    p.add_argument(
        "--scale", type=SCALE, default=1, help="sandbox data, x about 40 POs a month; 1..100"
    )
    p.add_argument("--seed", type=int, default=42, help="seed of the sandbox data; default 42")
