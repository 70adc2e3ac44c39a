"""`connector-dagster`: operate the connector from a shell."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from connector_dagster.lib import db, migrate
from connector_dagster.lib.settings import (
    DAGSTER_PG_URL_VAR,
    DATABASE_URL_VAR,
    MASTER_KEY_VAR,
    PROJECT_ROOT,
    ConfigError,
    dagster_home,
)


def _store():
    from connector_dagster.lib.store import Store

    return Store(db.database_url())


def cmd_db_migrate(args: argparse.Namespace) -> int:
    url = db.database_url()
    applied = migrate.migrate(url)
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
        print(
            json.dumps(
                {
                    "id": r.id,
                    "connection": r.connection,
                    "flow": r.flow,
                    "source_key": r.source_key,
                    "period": r.partition_key,
                    "reason": r.reason,
                    "message": r.message,
                    "attempts": r.attempts,
                },
                ensure_ascii=False,
            )
        )
    return 0


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


def cmd_sandbox(args: argparse.Namespace) -> int:
    from connector_dagster.sandbox.server import SandboxConfig, serve

    try:
        config = SandboxConfig(
            ifs_port=args.ifs_port,
            st_port=args.st_port,
            seed=args.seed,
            scale=args.scale,
            latency_ms=args.latency_ms,
            now=args.now,
        )
    except ValueError as exc:
        raise ConfigError(f"--now: {exc}") from None
    serve(config, args.faults)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from connector_dagster import bench

    if args.scenario == "sandbox-gets":
        from connector_dagster import bench_sandbox

        print(json.dumps(bench_sandbox.run()), flush=True)
        return 0
    if args.scenario == "limiter-grants":
        from connector_dagster import bench_limiter

        print(json.dumps(bench_limiter.run()), flush=True)
        return 0
    from connector_dagster import bench_flows

    if args.scenario in bench_flows.SCENARIOS:
        result = bench_flows.run(args.scenario, args.records, args.latency_ms)
        print(json.dumps(result), flush=True)
        return 0
    opts = {}
    if args.records:
        opts["records"] = args.records
    if args.latency_ms is not None:
        opts["latency_ms"] = args.latency_ms
    if args.scenario not in bench.SCENARIOS:
        raise ConfigError(
            f"unknown benchmark scenario {args.scenario!r}; one of {', '.join(bench.SCENARIOS)}"
        )
    print(json.dumps(bench.run(args.scenario, **opts)), flush=True)
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    """Embedded Postgres, migrations, sandbox, credentials, then `dagster dev`."""
    from connector_dagster.sandbox.server import SandboxConfig, SandboxProcess

    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    embedded = DATABASE_URL_VAR not in env
    if embedded:
        env[DATABASE_URL_VAR] = db.embedded_url(home / "pgdata")
        print(f"embedded PostgreSQL under {home / 'pgdata'}")
    url = db.validate_url(env[DATABASE_URL_VAR])
    env[DAGSTER_PG_URL_VAR] = db.dagster_url(url)
    env["DAGSTER_HOME"] = str(home)
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    if MASTER_KEY_VAR not in env:
        env[MASTER_KEY_VAR] = _dev_master_key(home)
        print(f"{MASTER_KEY_VAR} not set: using the development key in {home / 'master.key'}")
    os.environ.update(env)
    migrate.migrate(url)

    set_pool_limits()
    cmd_mappings_load(argparse.Namespace(connection=None))
    sandbox = SandboxProcess(SandboxConfig(seed=args.seed, scale=args.scale)).start()
    try:
        _seed_sandbox_credentials(sandbox.info)
        print(
            f"sandbox: IFS {sandbox.info['ifs']['base_url']}, "
            f"ServiceTitan {sandbox.info['servicetitan']['api_url']}"
        )
        cmd = [
            str(Path(sys.executable).parent / "dagster"),
            "dev",
            "-w",
            str(PROJECT_ROOT / "workspace.yaml"),
            "-h",
            args.host,
            "-p",
            str(args.port),
        ]
        # Run from DAGSTER_HOME so Dagster reads the dagster.yaml copied there.
        return subprocess.call(cmd, env=env, cwd=home)  # noqa: S603
    finally:
        sandbox.stop()
        if embedded:
            db.stop_embedded(home / "pgdata")


SYSTEMS = ("ifs", "servicetitan")


def set_pool_limits(limit: int = 3) -> list[str]:
    """Give every connection's API pools an explicit limit in the Dagster instance.

    Explicit limits, rather than `pools.default_limit`, because Dagster 1.13 on
    PostgreSQL fails a run when it initialises a default-limited pool that
    another run created meanwhile, or whose default changed."""
    import dagster as dg

    from connector_dagster.engine import registry

    pools = sorted(
        {c.pool(system) for c in registry.load_connections().values() for system in SYSTEMS}
    )
    with dg.DagsterInstance.get() as instance:
        for pool in pools:
            instance.event_log_storage.set_concurrency_slots(pool, limit)
    return pools


def cmd_pools(args: argparse.Namespace) -> int:
    for pool in set_pool_limits(args.limit):
        print(f"pool {pool}: limit {args.limit}")
    return 0


def _dev_master_key(home: Path) -> str:
    from cryptography.fernet import Fernet

    path = home / "master.key"
    if not path.exists():
        path.write_text(Fernet.generate_key().decode())
        path.chmod(0o600)
    return path.read_text().strip()


def _seed_sandbox_credentials(info: dict) -> None:
    from connector_dagster.lib.vault import Vault

    vault = Vault(_store())
    for field in ("client_id", "client_secret"):
        vault.set("sandbox", "ifs", field, info["ifs"][field])
    for field in ("client_id", "client_secret", "app_key", "webhook_key"):
        vault.set("sandbox", "servicetitan", field, info["servicetitan"][field])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="connector-dagster", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p_db = sub.add_parser("db", help="database schema").add_subparsers(dest="db", required=True)
    p_db.add_parser("migrate", help="apply missing migrations").set_defaults(fn=cmd_db_migrate)

    p_cred = sub.add_parser("credentials", help="the encrypted credential vault")
    cred = p_cred.add_subparsers(dest="credentials", required=True)
    p_set = cred.add_parser("set", help="store a secret read from stdin or an env variable")
    p_set.add_argument("connection")
    p_set.add_argument("system", choices=["ifs", "servicetitan"])
    p_set.add_argument("field")
    p_set.add_argument("--from-env", metavar="VAR", help="read the value from this variable")
    p_set.set_defaults(fn=cmd_credentials_set)
    cred.add_parser("list", help="list credentials, secrets masked").set_defaults(
        fn=cmd_credentials_list
    )
    cred.add_parser("rotate", help="re-encrypt every row under the first key").set_defaults(
        fn=cmd_credentials_rotate
    )
    cred.add_parser("new-key", help="print a new Fernet key").set_defaults(
        fn=cmd_credentials_new_key
    )

    p_failed = sub.add_parser("failed", help="records that could not be synced")
    failed = p_failed.add_subparsers(dest="failed", required=True)
    p_list = failed.add_parser("list", help="open failed records, one JSON object a line")
    p_list.add_argument("--connection")
    p_list.add_argument("--flow")
    p_list.add_argument("--period", help="partition key, e.g. 2026-10-01")
    p_list.add_argument("--reason")
    p_list.set_defaults(fn=cmd_failed_list)

    p_pools = sub.add_parser(
        "pools", help="set the concurrency limit of every connection's API pools in Dagster"
    )
    p_pools.add_argument(
        "--limit",
        type=int,
        default=3,
        help="steps that may call one API pool at once (they share its rate limit); default 3",
    )
    p_pools.set_defaults(fn=cmd_pools)

    p_map = sub.add_parser("mappings", help="IFS code -> ServiceTitan id mapping tables")
    maps = p_map.add_subparsers(dest="mappings", required=True)
    p_mload = maps.add_parser(
        "load", help="load each connection's mapping file if its version is new"
    )
    p_mload.add_argument("--connection")
    p_mload.set_defaults(fn=cmd_mappings_load)
    p_mset = maps.add_parser("set", help="add or change one entry (a new version)")
    p_mset.add_argument("connection")
    p_mset.add_argument("kind", help="vendors, sites, tax_codes, parts, gl_accounts, ...")
    p_mset.add_argument("source", help="the IFS code, e.g. V1001")
    p_mset.add_argument("target", help="JSON: the ServiceTitan id or object; null removes it")
    p_mset.set_defaults(fn=cmd_mappings_set)
    p_mlist = maps.add_parser("list", help="the entries in force")
    p_mlist.add_argument("connection")
    p_mlist.add_argument("--kind")
    p_mlist.set_defaults(fn=cmd_mappings_list)

    p_sb = sub.add_parser("sandbox", help="serve the IFS and ServiceTitan simulators")
    p_sb.add_argument("--ifs-port", type=int, default=8571)
    p_sb.add_argument("--st-port", type=int, default=8572)
    p_sb.add_argument("--scale", type=int, default=1)
    p_sb.add_argument("--seed", type=int, default=42)
    p_sb.add_argument("--latency-ms", type=float, default=0.0)
    p_sb.add_argument("--faults", type=Path, help="fault profile (JSON or YAML)")
    p_sb.add_argument(
        "--now",
        help="the sandbox's clock, an ISO 8601 instant such as 2026-06-15T12:00:00Z: no "
        "record is seeded dated after it (default: the real time at start)",
    )
    p_sb.set_defaults(fn=cmd_sandbox)

    p_bench = sub.add_parser("bench", help="run a benchmark scenario; prints one JSON object")
    p_bench.add_argument(
        "scenario",
        help=(
            "st-writes, ifs-writes, st-writes-faults, ifs-writes-faults, st-writes-3workers, "
            "ifs-writes-3workers, limiter-grants, sandbox-gets or f1-period (a period of "
            "--records POs, default 300, through the Dagster assets)"
        ),
    )
    p_bench.add_argument("--records", type=int, help="how many records to write")
    p_bench.add_argument("--latency-ms", type=float, help="sandbox latency (default 100)")
    p_bench.set_defaults(fn=cmd_bench)

    p_dev = sub.add_parser("dev", help="embedded Postgres + sandbox + Dagster UI and daemon")
    p_dev.add_argument("--host", default="127.0.0.1")
    p_dev.add_argument("--port", type=int, default=3000)
    p_dev.add_argument("--scale", type=int, default=1)
    p_dev.add_argument("--seed", type=int, default=42)
    p_dev.set_defaults(fn=cmd_dev)
    return parser


def main(argv: list[str] | None = None) -> int:
    args, extra = build_parser().parse_known_args(argv)
    if extra:
        # Not echoed: a secret typed on the command line must not reach logs.
        print(
            f"connector-dagster: {len(extra)} unexpected argument(s) ignored and refused; "
            "secrets are read from stdin or --from-env VAR, never from the command line",
            file=sys.stderr,
        )
        return 2
    try:
        return args.fn(args)
    except ConfigError as exc:
        print(f"connector-dagster: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from connector_dagster.lib.vault import VaultError

        if isinstance(exc, VaultError):
            print(f"connector-dagster: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
