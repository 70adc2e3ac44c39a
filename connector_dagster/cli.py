"""`connector-dagster`: operate the connector from a shell.

Each command group adds itself to the parser in one `_add_<group>` function; a
command is a `cmd_*` function taking the parsed arguments and returning the exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Callable

from connector_dagster.cli_args import (
    PORT,
    SANDBOX_PORT,
    SCALE,
    SYSTEMS,
    bench_scenario,
    check_names,
    faults_file,
    float_between,
    int_between,
    period,
    sandbox_clock,
    state_file,
    variable_name,
)
from connector_dagster.lib import db, migrate
from connector_dagster.lib.settings import (
    DATABASE_URL_VAR,
    MASTER_KEY_VAR,
    ConfigError,
    load_env_file,
    require,
)
from connector_dagster.lib.store import REASONS
from connector_dagster.pools import DEFAULT_LIMIT, MAX_LIMIT, set_pool_limits

__all__ = ["build_parser", "main", "set_pool_limits"]


# --- commands ---


def _database_url() -> str:
    """The connector's database: a shell command never starts a server of its own."""
    return db.validate_url(require(DATABASE_URL_VAR, "the connector's PostgreSQL URL"))


def _store():
    from connector_dagster.lib.store import Store

    return Store(_database_url())


def cmd_db_migrate(args: argparse.Namespace) -> int:
    applied = migrate.migrate(_database_url())
    print(f"applied {len(applied)} migration(s){': ' + ', '.join(applied) if applied else ''}")
    return 0


def cmd_credentials_set(args: argparse.Namespace) -> int:
    from connector_dagster.lib.vault import Vault

    if args.from_env:
        secret = os.environ.get(args.from_env)
        if secret is None:
            raise ConfigError(f"environment variable {args.from_env} is not set")
    else:
        if sys.stdin.isatty():
            print(f"value for {args.connection}/{args.system}/{args.field}: ", end="", flush=True)
        secret = sys.stdin.readline().rstrip("\r\n")
    Vault(_store()).set(args.connection, args.system, args.field, secret)
    print(f"stored {args.connection}/{args.system}/{args.field}")
    return 0


def cmd_credentials_list(args: argparse.Namespace) -> int:
    from connector_dagster.lib.vault import Vault

    rows = Vault(_store()).list()
    print(f"{'connection':<16} {'system':<13} {'field':<14} {'value':<9} updated")
    for r in rows:
        print(
            f"{r.connection:<16} {r.system:<13} {r.field:<14} {r.masked:<9} {r.updated_at:%F %T%z}"
        )
    return 0


def cmd_credentials_rotate(args: argparse.Namespace) -> int:
    from connector_dagster.lib.vault import Vault

    count = Vault(_store()).rotate()
    print(
        f"re-encrypted {count} credential(s) under the first key of {MASTER_KEY_VAR}; "
        "the other keys can now be removed"
    )
    return 0


def cmd_credentials_new_key(args: argparse.Namespace) -> int:
    from cryptography.fernet import Fernet

    print(Fernet.generate_key().decode())
    return 0


def cmd_failed_list(args: argparse.Namespace) -> int:
    rows = _store().failed(
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
    from connector_dagster.engine.link import Link
    from connector_dagster.engine.replay import replay

    with Link.open(args.connection) as link:
        results = replay(link, args.flow, args.period, args.reason, args.key or None)
        _report_clean_periods(link, results)
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


def _report_clean_periods(link: object, results: list) -> None:
    """Tell Dagster (when this shell has its instance, DAGSTER_HOME) about each replayed
    period left with no failed record, so its partition shows the period's totals."""
    if not os.environ.get("DAGSTER_HOME"):
        return
    import dagster as dg

    from connector_dagster.defs.operations.replay import clean_periods

    with dg.DagsterInstance.get() as instance:
        for event in clean_periods(link, results):  # type: ignore[arg-type]
            instance.report_runless_asset_event(event)


def cmd_reconcile(args: argparse.Namespace) -> int:
    """Print a period's reconciliation (text or JSON); exit 1 when it does not reconcile."""
    from connector_dagster.engine.link import Link
    from connector_dagster.engine.reconcile import reconcile
    from connector_dagster.engine.reconcile_report import text

    with Link.open(args.connection) as link:
        in_range(link.connection, args.period)
        if args.flow is not None and link.connection.flow(args.flow) is None:
            raise ConfigError(f"connection {args.connection!r} does not run flow {args.flow!r}")
        results = reconcile(link, args.period, args.flow)
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


def in_range(conn: object, period_key: str) -> None:
    """ConfigError unless the period is one of the connection's (from its start_period to
    the open month): a period outside has nothing to reconcile, which is not "reconciles"."""
    from connector_dagster.engine.periods import period_partitions

    keys = period_partitions(conn).get_partition_keys()  # type: ignore[arg-type]
    if period_key not in keys:
        raise ConfigError(
            f"period {period_key[:7]} is outside connection {conn.name!r}'s periods "  # type: ignore[attr-defined]
            f"({keys[0][:7]} .. {keys[-1][:7]}; start_period in the connections file); "
            "nothing to reconcile there"
        )


def cmd_mappings_load(args: argparse.Namespace) -> int:
    from connector_dagster.engine import registry
    from connector_dagster.lib import mapping

    store = _store()
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
    store = _store()
    version = mapping.set_entry(
        store, args.connection, args.kind, args.source, target, registry.tables()
    )
    print(f"{args.connection}: {args.kind}[{args.source!r}] = {args.target} (version {version})")
    return 0


def cmd_mappings_list(args: argparse.Namespace) -> int:
    from connector_dagster.engine import registry
    from connector_dagster.lib import mapping

    maps = mapping.load(_store(), args.connection)
    print(f"# {args.connection} mappings version {maps.version}")
    for kind in (t.kind for t in registry.tables()):
        if args.kind in (None, kind):
            for source, target in sorted(maps.table(kind).items()):
                print(f"{kind}\t{source}\t{json.dumps(target, ensure_ascii=False)}")
    return 0


def cmd_pools(args: argparse.Namespace) -> int:
    for pool in set_pool_limits(args.limit):
        print(f"pool {pool}: limit {args.limit}")
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    from connector_dagster.sandbox.server import SandboxConfig, serve

    config = SandboxConfig(
        ifs_port=args.ifs_port,
        st_port=args.st_port,
        seed=args.seed,
        scale=args.scale,
        latency_ms=args.latency_ms,
        now=args.now,
        state_file=args.state_file,
    )
    try:
        serve(config, args.faults)
    except OSError as exc:
        raise ConfigError(
            f"the sandbox cannot listen on {config.host} ports {config.ifs_port} and "
            f"{config.st_port}: {exc.strerror}; choose others with --ifs-port and --st-port"
        ) from None
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    if args.scenario == "sandbox-gets":
        from connector_dagster import bench_sandbox

        print(json.dumps(bench_sandbox.run()), flush=True)
        return 0
    if args.scenario == "webhooks-load":
        from connector_dagster import bench_webhooks

        print(json.dumps(bench_webhooks.run(events=args.records or 10_000)), flush=True)
        return 0
    if args.scenario == "limiter-grants":
        from connector_dagster import bench_limiter

        print(json.dumps(bench_limiter.run()), flush=True)
        return 0
    from connector_dagster import bench, bench_flows

    if args.scenario in bench_flows.SCENARIOS:
        result = bench_flows.run(args.scenario, args.records, args.latency_ms)
        print(json.dumps(result), flush=True)
        return 0
    opts: dict[str, float] = {}
    if args.records:
        opts["records"] = args.records
    if args.latency_ms is not None:
        opts["latency_ms"] = args.latency_ms
    print(json.dumps(bench.run(args.scenario, **opts)), flush=True)
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    from connector_dagster import dev

    return dev.run(
        dev.DevOptions(
            host=args.host,
            port=args.port,
            ifs_port=args.ifs_port,
            st_port=args.st_port,
            scale=args.scale,
            seed=args.seed,
            webhook_port=args.webhook_port,
        )
    )


# --- the parser: one function per command group ---


def _command(
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


def _add_db(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser("db", help="the connector's database schema").add_subparsers(
        dest="db", required=True, metavar="COMMAND"
    )
    _command(group, "migrate", "apply missing migrations (idempotent)", cmd_db_migrate)


def _add_credentials(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser("credentials", help="the encrypted credential vault").add_subparsers(
        dest="credentials", required=True, metavar="COMMAND"
    )
    p = _command(
        group,
        "set",
        "store a secret read from stdin or an env variable",
        cmd_credentials_set,
        known_connection=False,  # credentials may be stored before the connection is described
    )
    p.add_argument("connection", help="the connection's name, e.g. sandbox")
    p.add_argument("system", choices=SYSTEMS, help="whose credential: ifs or servicetitan")
    p.add_argument(
        "field", help="client_id, client_secret; for servicetitan also app_key, webhook_key"
    )
    p.add_argument(
        "--from-env",
        metavar="VAR",
        type=variable_name,
        help="read the value from this environment variable instead of stdin",
    )
    _command(group, "list", "list credentials, secrets masked", cmd_credentials_list)
    _command(group, "rotate", "re-encrypt every row under the first key", cmd_credentials_rotate)
    _command(group, "new-key", "print a new Fernet key", cmd_credentials_new_key, settings=False)


def _add_failed(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser("failed", help="records that could not be synced").add_subparsers(
        dest="failed", required=True, metavar="COMMAND"
    )
    p = _command(group, "list", "open failed records, one JSON object a line", cmd_failed_list)
    p.add_argument("--connection", help="only this connection's records")
    p.add_argument("--flow", help="only this flow's records, e.g. purchase_orders")
    p.add_argument("--period", type=period, help="only this period: YYYY-MM or YYYY-MM-01")
    p.add_argument(
        "--reason",
        choices=REASONS,
        metavar="REASON",
        help=f"only records failed for this reason: {', '.join(REASONS)}",
    )
    p = _command(
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


def _add_reconcile(sub: argparse._SubParsersAction) -> None:
    p = _command(
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


def _add_pools(sub: argparse._SubParsersAction) -> None:
    p = _command(
        sub, "pools", "set the concurrency limit of every connection's API pools", cmd_pools
    )
    p.add_argument(
        "--limit",
        type=int_between(1, MAX_LIMIT),
        default=DEFAULT_LIMIT,
        help=f"steps that may call one API at once, 1..{MAX_LIMIT} (they share its rate "
        f"limit); default {DEFAULT_LIMIT}",
    )


def _add_mappings(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser(
        "mappings", help="IFS code -> ServiceTitan id mapping tables"
    ).add_subparsers(dest="mappings", required=True, metavar="COMMAND")
    p = _command(
        group, "load", "load each connection's mapping file if its version is new",
        cmd_mappings_load,
    )  # fmt: skip
    p.add_argument("--connection", help="only this connection")
    p = _command(group, "set", "add or change one entry (a new version)", cmd_mappings_set)
    p.add_argument("connection", help="a connection of the connections file, e.g. sandbox")
    p.add_argument("kind", help="the table: vendors, sites, tax_codes, parts, ...")
    p.add_argument("source", help="the IFS code, e.g. V1001")
    p.add_argument("target", help="JSON: the ServiceTitan id or object; null removes the entry")
    p = _command(group, "list", "the entries in force", cmd_mappings_list)
    p.add_argument("connection", help="a connection of the connections file, e.g. sandbox")
    p.add_argument("--kind", help="only this table: vendors, sites, tax_codes, parts, ...")


def _add_sandbox(sub: argparse._SubParsersAction) -> None:

    p = _command(
        sub, "sandbox", "serve the IFS and ServiceTitan simulators", cmd_sandbox, settings=False
    )
    _add_sandbox_data(p)
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
        "--state-file",
        type=state_file,
        metavar="PATH",
        help="keep the simulators' data in this file: loaded at start when it was written for "
        "the same --seed, --scale and --now (else seeded afresh), saved every 30 s and on "
        "stop; delete it or POST /_sandbox/reset to start from the seed again",
    )


def _add_sandbox_data(p: argparse.ArgumentParser) -> None:
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


def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = _command(
        sub, "bench", "run a benchmark scenario; prints one JSON object", cmd_bench, settings=False
    )
    p.add_argument(
        "scenario",
        type=bench_scenario,
        help="st-writes, ifs-writes, st-writes-faults, ifs-writes-faults, st-writes-3workers, "
        "ifs-writes-3workers, limiter-grants, sandbox-gets, f1-period (a period of "
        "--records POs, default 300, through the Dagster assets), ifs-postings and "
        "ifs-postings-batch (--records invoices posted to IFS by F3, $batch off and on), "
        "st-invoice-read (F3's reads of a period of --records invoices) or webhooks-load "
        "(--records signed events, default 10000, 10%% duplicates, from 50 clients into "
        "the webhook receiver)",
    )
    p.add_argument(
        "--records", type=int_between(1, 100000), help="how many records to write, 1..100000"
    )
    p.add_argument(
        "--latency-ms",
        type=float_between(0, 60000),
        help="sandbox latency in milliseconds (default 100)",
    )


def _add_dev(sub: argparse._SubParsersAction) -> None:

    p = _command(
        sub,
        "dev",
        "embedded PostgreSQL + sandbox + Dagster UI and daemon (what `make dev` runs)",
        cmd_dev,
        settings=False,
    )
    p.add_argument("--host", default="127.0.0.1", help="address the UI listens on")
    p.add_argument("--port", type=PORT, default=3000, help="port of the UI; default 3000")
    _add_sandbox_data(p)
    p.add_argument(
        "--webhook-port",
        type=SANDBOX_PORT,
        default=8590,
        help="port of the webhook receiver (0: a free one); default 8590",
    )


def build_parser() -> argparse.ArgumentParser:
    from connector_dagster.webhooks import cli as webhooks_cli

    parser = argparse.ArgumentParser(prog="connector-dagster", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _add_db,
        _add_credentials,
        _add_failed,
        _add_reconcile,
        _add_pools,
        _add_mappings,
        _add_sandbox,
        _add_bench,
        _add_dev,
        webhooks_cli.add_commands,
    ):
        add(sub)
    return parser


def _parse(argv: list[str] | None) -> argparse.Namespace:
    args, extra = build_parser().parse_known_args(argv)
    if extra:
        # Never echoed, whatever the command: an argument too many may be a secret
        # typed on the command line (`webhooks rotate-key C <key>`), and must not
        # reach a terminal's scrollback or a log.
        args.parser.error(
            f"{len(extra)} unexpected argument(s), not shown: secrets are read from "
            "stdin or --from-env VAR, never from the command line"
        )
    if args.settings:
        load_env_file()
    if args.fn is not cmd_dev:
        db.never_start_embedded()  # only `make dev` starts (and stops) the embedded server
    check_names(args)
    return args


def main(argv: list[str] | None = None) -> int:
    from connector_dagster.lib.vault import VaultError

    try:
        args = _parse(argv)
        return args.fn(args)
    except SystemExit as exc:  # argparse: --help, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else 2
    except (ConfigError, VaultError) as exc:
        print(f"connector-dagster: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("connector-dagster: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
