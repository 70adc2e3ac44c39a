"""The PostgreSQL database: resolve its URL (or start the embedded one) and connect."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg2
import psycopg2.extensions

from connector_dagster.lib.settings import DATABASE_URL_VAR, ConfigError, dagster_home, require

_SCHEMES = {"postgresql", "postgres", "postgresql+psycopg2"}


def validate_url(url: str, source: str = DATABASE_URL_VAR) -> str:
    """Check that `url` is a usable PostgreSQL URL; raise ConfigError naming `source`."""
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES:
        raise ConfigError(
            f"{source} must be a PostgreSQL URL like postgresql://user:pass@host:5432/db "
            + (
                f"(scheme {parts.scheme!r} is not one of {sorted(_SCHEMES)})"
                if parts.scheme
                else "(it has no scheme)"
            )
        )
    host = parts.hostname or parse_qs(parts.query).get("host", [None])[0]
    if not host:
        raise ConfigError(f"{source} names no host (neither host:port nor ?host=/socket/dir)")
    try:
        _ = parts.port
    except ValueError as exc:
        raise ConfigError(f"{source} has an invalid port: {exc}") from None
    if not parts.path.strip("/"):
        raise ConfigError(f"{source} names no database (the path after the host)")
    return url


def _pgserver():
    """The pgserver module; its import warns when XDG_RUNTIME_DIR is unset (a clean
    shell), which says nothing a user can act on."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    return pgserver


def embedded_url(pgdata: Path | None = None) -> str:
    """Start (or reuse) the embedded PostgreSQL from the pgserver wheel; return its URL.

    The server keeps running after this process exits, so Dagster's webserver,
    daemon and code servers share it.
    """
    pgserver = _pgserver()
    pgdata = pgdata or dagster_home() / "pgdata"
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    return server.get_uri()


@contextmanager
def throwaway_server() -> Iterator[str]:
    """A PostgreSQL of its own in a temporary folder, deleted on exit; yields its URL."""
    import shutil
    import tempfile

    pgserver = _pgserver()
    folder = Path(tempfile.mkdtemp(prefix="connector-pg-"))
    server = pgserver.get_server(folder / "pgdata", cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def stop_embedded(pgdata: Path | None = None, wait_s: float = 0.0) -> bool:
    """Stop the embedded PostgreSQL (a fast shutdown), waiting up to `wait_s` seconds
    for it to exit; False if it was not running."""
    import signal
    import time

    pid_file = (pgdata or dagster_home() / "pgdata") / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
        os.kill(pid, signal.SIGINT)
    except (OSError, ValueError):
        return False
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            break
        time.sleep(0.1)
    return True


_may_start_embedded = True


def never_start_embedded() -> None:
    """From now on in this process, `database_url()` never starts the embedded server:
    a shell command that did would leave it running after the command ends."""
    global _may_start_embedded
    _may_start_embedded = False


def database_url() -> str:
    """`CONNECTOR_DATABASE_URL` when set (nothing is started), else the embedded server
    (unless `never_start_embedded()`: then a one-line ConfigError saying how to set it)."""
    url = os.environ.get(DATABASE_URL_VAR)
    if url is not None:
        return validate_url(url.strip())
    if not _may_start_embedded:
        return validate_url(require(DATABASE_URL_VAR, "the connector's PostgreSQL URL"))
    return embedded_url()


def dagster_url(url: str) -> str:
    """The same database for Dagster's storage: SQLAlchemy 2.1 needs the psycopg2 dialect."""
    scheme, rest = url.split("://", 1)
    if scheme in ("postgresql", "postgres"):
        scheme = "postgresql+psycopg2"
    return f"{scheme}://{rest}"


def libpq_url(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"postgresql://{rest}" if scheme == "postgresql+psycopg2" else url


SESSION_OPTIONS = "-c TimeZone=UTC"
"""Every session of the connector reads and writes instants in UTC, whatever the
server's or the database's timezone setting."""

KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
              "keepalives_count": 3}  # fmt: skip
"""A session whose client vanished (a machine lost, not only a process killed) is
ended by the server within about 25 s, releasing what it held."""


def describe(url: str) -> str:
    """Where `url` points, for messages: host (or socket folder) and database, never
    the user or password."""
    where = urlsplit(url)
    host = where.hostname or parse_qs(where.query).get("host", ["?"])[0]
    port = f":{where.port}" if where.port else ""
    return f"{host}{port}{where.path}"


def connect(url: str, **options: object) -> psycopg2.extensions.connection:
    """A new connection in UTC; `options` are libpq parameters such as
    `application_name` (server `options` are added to the UTC one)."""
    params: dict[str, object] = {"connect_timeout": 10, **options}
    params["options"] = f"{SESSION_OPTIONS} {options.get('options') or ''}".strip()
    try:
        return psycopg2.connect(libpq_url(url), **params)
    except psycopg2.OperationalError as exc:
        raise ConfigError(
            f"cannot connect to PostgreSQL at {describe(url)}: {str(exc).strip().splitlines()[0]}"
        ) from None


@contextmanager
def transaction(url: str) -> Iterator[psycopg2.extensions.cursor]:
    """One connection, one transaction: committed on success, rolled back on error."""
    conn = connect(url)
    try:
        with conn, conn.cursor() as cur:
            yield cur
    finally:
        conn.close()
