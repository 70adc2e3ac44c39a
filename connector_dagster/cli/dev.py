"""`connector-dagster dev`, what `make dev` runs: the embedded PostgreSQL, the sandbox and
Dagster's UI and daemon on this machine, a `.env` for the project's other shells, and an
orderly stop of all of it on Ctrl-C or SIGTERM. The terminal shows what a person acts on;
the rest goes to a log file (`dev_output`)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import yaml

from connector_dagster.cli.args import (
    PORT,
    SANDBOX_PORT,
)
from connector_dagster.cli.common import command
from connector_dagster.cli.dev_output import Watch, open_log, say, tail
from connector_dagster.cli.pools import set_pool_limits
from connector_dagster.cli.sandbox import add_sandbox_data
from connector_dagster.lib import db, migrate
from connector_dagster.lib.settings import (
    CONNECTIONS_FILE_VAR,
    DAGSTER_PG_URL_VAR,
    DATABASE_URL_VAR,
    ENV_FILE_HEADER,
    MASTER_KEY_VAR,
    PROJECT_ROOT,
    UI_URL_VAR,
    ConfigError,
    dagster_home,
    env_file,
)
from connector_dagster.sandbox.config import DEFAULT_IFS_PORT, DEFAULT_ST_PORT

SANDBOX_CONNECTION = "sandbox"
SANDBOX_STATE_FILE = "sandbox-state.json"
DAGSTER_STOP_S = 90.0  # dagster dev waits up to 60 s for each of its webserver and daemon
LEFTOVER_STOP_S = 10.0
POSTGRES_STOP_S = 30.0


@dataclass(frozen=True)
class DevOptions:
    host: str = "127.0.0.1"
    port: int = 3000
    ifs_port: int = DEFAULT_IFS_PORT
    st_port: int = DEFAULT_ST_PORT
    scale: int = 1
    seed: int = 42
    webhook_port: int = 8590
    finance_port: int = 8591
    verbose: bool = False


class _Stopped(Exception):
    """A stop was asked for during start-up."""


class _StopSignal:
    """SIGINT and SIGTERM ask for a stop: start-up checks between its steps, and the
    running system waits on it. Nothing is interrupted mid-step, so nothing prints a
    traceback."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if not self.event.is_set():
            print(flush=True)
            say(f"{signal.Signals(signum).name}: stopping")
        self.event.set()

    def check(self) -> None:
        if self.event.is_set():
            raise _Stopped


def run(options: DevOptions) -> int:
    """Start everything, run until a stop is asked for (or Dagster exits), then stop
    everything in the reverse order. Returns the exit code."""
    stop = _StopSignal()
    stop.install()
    code = 0
    with ExitStack() as started:
        try:
            code = _run(options, stop, started)
        except _Stopped:
            code = 0
        except Exception:
            if not stop.event.is_set():
                raise
            # A stop during start-up can break the step under way (a child got the
            # terminal's Ctrl-C too): what was started is stopped all the same.
    say("stopped")
    return code


def _run(options: DevOptions, stop: _StopSignal, started: ExitStack) -> int:
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    env_path = env_file()
    _check_env_file_is_ours(env_path)
    _check_free(options.host, options.port, "--port")
    _check_free("127.0.0.1", options.ifs_port, "--ifs-port")
    _check_free("127.0.0.1", options.st_port, "--st-port")
    _check_free("127.0.0.1", options.webhook_port, "--webhook-port")
    _check_free("127.0.0.1", options.finance_port, "--finance-port")

    url = os.environ.get(DATABASE_URL_VAR)
    if url is None:
        pgdata = home / "pgdata"
        say(f"embedded PostgreSQL under {pgdata}")
        url = db.embedded_url(pgdata)
        started.callback(_stop_postgres, pgdata)
    settings = {
        DATABASE_URL_VAR: db.validate_url(url),
        DAGSTER_PG_URL_VAR: db.dagster_url(url),
        "DAGSTER_HOME": str(home),
        MASTER_KEY_VAR: os.environ.get(MASTER_KEY_VAR) or _dev_master_key(home),
        UI_URL_VAR: f"http://{_reachable(options.host)}:{options.port}",
    }
    os.environ.update(settings)
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    migrate.migrate(url)
    stop.check()

    sandbox = _start_sandbox(options, home)
    started.callback(sandbox.stop)
    info = sandbox.info
    say(f"sandbox IFS {info['ifs']['base_url']}, ServiceTitan {info['servicetitan']['api_url']}")
    connections = _point_sandbox_connection(info, home)
    if connections is not None:
        settings[CONNECTIONS_FILE_VAR] = str(connections)
        os.environ[CONNECTIONS_FILE_VAR] = str(connections)
        say(f"the sandbox connection is in {connections}")
    _prepare_database(url, info)
    _write_private(home / "sandbox.json", json.dumps(info, indent=2) + "\n")
    started.callback(_remove, home / "sandbox.json")
    _write_env_file(env_path, settings)
    started.callback(_remove_env_file, env_path)
    stop.check()

    log_path, log = None, None
    if not options.verbose:
        log_path, log = open_log(home)
        started.callback(log.close)
        say(
            f"the output of Dagster and the webhook receiver goes to {log_path} "
            "(tail -f it, or start with --verbose to see it here)"
        )
    receiver = _start_receiver(options, log, log_path)
    started.callback(receiver.stop)
    say(
        "webhook receiver "
        + ", ".join(f"{name} {url}" for name, url in receiver.info["endpoints"].items())
    )
    stop.check()

    finance = _start_finance(options)
    started.callback(finance.stop)
    print(f"connector-dagster dev: finance's page on {finance.info['url']}/", flush=True)
    stop.check()

    ui = f"http://{_reachable(options.host)}:{options.port}"
    dagster = _start_dagster(options, home, log)
    started.callback(_stop_process_group, dagster, "Dagster")
    say(
        f"starting Dagster; the UI will answer on {ui}; other shells of the project read "
        f"{env_path}; Ctrl-C stops everything"
    )
    watch = Watch(url, ui)
    while not stop.event.wait(0.5):
        if dagster.poll() is not None:
            say(f"Dagster exited with code {dagster.returncode}; stopping the rest")
            if log_path is not None:
                say(f"the last lines of {log_path}:")
                print("\n".join(tail(log_path)), flush=True)
            return dagster.returncode or 1
        for line in watch.poll():
            say(line)
    return 0


def _reachable(host: str) -> str:
    """The address to print for a UI listening on `host`."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104


def _check_free(host: str, port: int, option: str) -> None:
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"{host}:{port} is not free ({exc.strerror}): choose another with {option} "
                "(make dev ARGS='--port 3300 --ifs-port 8671 --st-port 8672 --webhook-port 8690')"
            ) from None


def _check_env_file_is_ours(path: Path) -> None:
    if path.exists() and not _is_ours(path):
        raise ConfigError(
            f"{path} exists and was not written by `connector-dagster dev`: move it away, "
            "since make dev writes its settings there for the project's other shells"
        )


def _is_ours(path: Path) -> bool:
    try:
        return path.read_text(encoding="utf-8").startswith(ENV_FILE_HEADER)
    except OSError:
        return False


def _write_private(path: Path, text: str) -> None:
    """Write a file only this user can read (it holds secrets)."""
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text, encoding="utf-8")


def _write_env_file(path: Path, settings: dict[str, str]) -> None:
    lines = [
        f"{ENV_FILE_HEADER} for the other shells of this project; removed when it stops.",
        "# Dagster's commands and connector-dagster read it. It holds the development",
        "# master key and the database URL: it is git-ignored and readable by you only.",
    ]
    for name, value in settings.items():
        if "'" in value or "\n" in value:
            raise ConfigError(f"{name} holds a quote or a line break, which .env cannot carry")
        lines.append(f"{name}='{value}'")
    _write_private(path, "\n".join(lines) + "\n")


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def _remove_env_file(path: Path) -> None:
    if _is_ours(path):
        path.unlink()


def _dev_master_key(home: Path) -> str:
    from cryptography.fernet import Fernet

    path = home / "master.key"
    if not path.exists():
        _write_private(path, Fernet.generate_key().decode())
        say(f"{MASTER_KEY_VAR} not set: a development key is in {path}")
    return path.read_text().strip()


def _start_receiver(options: DevOptions, log: TextIO | None, log_path: Path | None) -> Any:
    """The webhook receiver beside the UI, on `--webhook-port` (the sandbox's default
    delivery address), logging into `log`."""
    from connector_dagster.webhooks.server import ReceiverProcess

    try:
        return ReceiverProcess(port=options.webhook_port, stderr=log).start()
    except RuntimeError:
        where = "above" if log_path is None else f"in {log_path}"
        raise ConfigError(
            f"the webhook receiver did not start (its message is {where}); choose another "
            "port with --webhook-port"
        ) from None


def _start_finance(options: DevOptions) -> Any:
    """Finance's page beside the UI, on loopback, `--finance-port`; it links runs to
    the UI."""
    from connector_dagster.finance.server import FinanceProcess

    ui = f"http://{options.host}:{options.port}"
    try:
        return FinanceProcess(port=options.finance_port, dagster_url=ui).start()
    except RuntimeError:
        raise ConfigError(
            "finance's page did not start (its message is above); choose another port with "
            "--finance-port"
        ) from None


def _start_sandbox(options: DevOptions, home: Path) -> Any:
    """The sandbox, resuming the data it saved in DAGSTER_HOME when the last run had the
    same seed and scale."""
    from connector_dagster.sandbox.server import SandboxConfig, SandboxProcess

    receiver = f"http://127.0.0.1:{options.webhook_port}/webhooks/sandbox"
    config = SandboxConfig(
        ifs_port=options.ifs_port,
        st_port=options.st_port,
        seed=options.seed,
        scale=options.scale,
        webhook_url=receiver if options.webhook_port else None,
        state_file=str(home / SANDBOX_STATE_FILE),
    )
    try:
        return SandboxProcess(config).start()
    except RuntimeError:
        raise ConfigError(
            "the sandbox did not start (its message is above); choose other ports with "
            "--ifs-port and --st-port"
        ) from None


def _point_sandbox_connection(info: dict[str, Any], home: Path) -> Path | None:
    """When the sandbox listens elsewhere than the connections file says, write a copy of
    the file whose `sandbox` connection points at it; return that copy's path."""
    from connector_dagster.engine.connections import connections_path

    source = connections_path()
    data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    conn = (data.get("connections") or {}).get(SANDBOX_CONNECTION)
    if not isinstance(conn, dict):
        return None
    wanted = {
        ("ifs", "base_url"): info["ifs"]["base_url"],
        ("servicetitan", "api_url"): info["servicetitan"]["api_url"],
        ("servicetitan", "auth_url"): info["servicetitan"]["auth_url"],
    }
    if all((conn.get(system) or {}).get(key) == url for (system, key), url in wanted.items()):
        return None
    for (system, key), url in wanted.items():
        conn.setdefault(system, {})[key] = url
    for each in data["connections"].values():
        if isinstance(each, dict) and each.get("mappings"):
            each["mappings"] = str((source.parent / each["mappings"]).resolve())
    target = home / "connections.yaml"
    target.write_text(
        f"# Written by `connector-dagster dev` from {source}: the {SANDBOX_CONNECTION} "
        "connection points at this run's sandbox. Edit the source, not this copy.\n"
        + yaml.safe_dump(data, sort_keys=False),
        encoding="utf-8",
    )
    return target


def _prepare_database(url: str, info: dict[str, Any]) -> None:
    """Pool limits, each connection's mappings, and the sandbox's credentials (new each run)."""
    from connector_dagster.engine import registry
    from connector_dagster.lib import mapping
    from connector_dagster.lib.store import Store
    from connector_dagster.systems.vault import Vault

    set_pool_limits()
    store = Store(url)
    try:
        for name, conn in registry.load_connections().items():
            mapping.ensure_loaded(store, name, conn.mappings, registry.tables())
        vault = Vault(store)
        for field in ("client_id", "client_secret"):
            vault.set(SANDBOX_CONNECTION, "ifs", field, info["ifs"][field])
        for field in ("client_id", "client_secret", "app_key", "webhook_key"):
            vault.set(SANDBOX_CONNECTION, "servicetitan", field, info["servicetitan"][field])
    finally:
        store.close()


def _start_dagster(options: DevOptions, home: Path, log: TextIO | None) -> subprocess.Popen[bytes]:
    """`dg dev` (the webserver, the daemon and the code server), in a session of its own
    so that only this process decides when and in which order it stops. It runs from
    DAGSTER_HOME so that Dagster reads the dagster.yaml copied there; its output, and
    its runs', goes to `log` (None: this terminal)."""
    cmd = [
        str(Path(sys.executable).parent / "dg"),
        "dev",
        "--workspace",
        str(PROJECT_ROOT / "workspace.yaml"),
        "--host",
        options.host,
        "--port",
        str(options.port),
    ]
    return subprocess.Popen(  # noqa: S603
        cmd,
        cwd=home,
        env=dict(os.environ),
        start_new_session=True,
        stdout=log,
        stderr=None if log is None else subprocess.STDOUT,
    )


def _stop_process_group(proc: subprocess.Popen[bytes], what: str) -> None:
    """SIGTERM to the leader (Dagster stops its webserver and daemon in order), then
    SIGTERM and at last SIGKILL to whatever is left in its process group (code servers,
    run workers)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(DAGSTER_STOP_S)
    except subprocess.TimeoutExpired:
        say(f"{what} did not stop in time; ending it")
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _signal_group(proc.pid, sig):
            break
        deadline = time.monotonic() + LEFTOVER_STOP_S
        while time.monotonic() < deadline and _signal_group(proc.pid, 0):
            time.sleep(0.1)
    if proc.poll() is None:
        proc.wait()


def _signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to the process group; False when none of its processes is left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_postgres(pgdata: Path) -> None:
    if db.stop_embedded(pgdata, wait_s=POSTGRES_STOP_S):
        say("PostgreSQL stopped")


def cmd_dev(args: argparse.Namespace) -> int:
    return run(
        DevOptions(
            host=args.host,
            port=args.port,
            ifs_port=args.ifs_port,
            st_port=args.st_port,
            scale=args.scale,
            seed=args.seed,
            webhook_port=args.webhook_port,
            finance_port=args.finance_port,
            verbose=args.verbose,
        )
    )


def add(sub: argparse._SubParsersAction) -> None:

    p = command(
        sub,
        "dev",
        "embedded PostgreSQL + sandbox + Dagster UI and daemon (what `make dev` runs)",
        cmd_dev,
        settings=False,
    )
    p.set_defaults(starts_database=True)  # the one command that starts (and stops) one
    p.add_argument("--host", default="127.0.0.1", help="address the UI listens on")
    p.add_argument("--port", type=PORT, default=3000, help="port of the UI; default 3000")
    add_sandbox_data(p)
    p.add_argument(
        "--webhook-port",
        type=SANDBOX_PORT,
        default=8590,
        help="port of the webhook receiver (0: a free one); default 8590",
    )
    p.add_argument(
        "--finance-port",
        type=SANDBOX_PORT,
        default=8591,
        help="port of finance's page (0: a free one); default 8591",
    )
    p.add_argument(
        "--verbose",
        action="store_true",
        help="print the output of Dagster and the webhook receiver here (sensor ticks, run "
        "logs, stack traces) rather than into .dagster_home/dev-logs/",
    )
