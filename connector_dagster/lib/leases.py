"""Per-record leases: which run may write a record now, held in PostgreSQL so that
runs on any number of machines agree, and released when their holder dies."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from connector_dagster.lib.db import KEEPALIVES, connect


class Leases:
    """Per-record leases: PostgreSQL advisory locks held by one session of their own.

    A lease is held until released, or until the session ends: when its holder
    dies, the server ends the session (at once for a killed process, within about
    25 s for a vanished machine, by TCP keepalives) and the lease is free again.
    Two runs, on one machine or several, never hold the same record's lease.
    """

    def __init__(self, url: str) -> None:
        self._conn = connect(url, **KEEPALIVES)
        self._conn.autocommit = True
        self._lock = threading.Lock()

    @staticmethod
    def _name(connection: str, flow: str) -> str:
        return f"{connection}\x1f{flow}\x1f"

    def take(self, connection: str, flow: str, keys: Iterable[str]) -> set[str]:
        """Lease what is free of `keys`; returns the keys now held (the others are
        held by a live session elsewhere)."""
        keys = list(dict.fromkeys(keys))
        if not keys:
            return set()
        with self._lock, self._conn.cursor() as cur:
            cur.execute(
                """SELECT key FROM unnest(%s::text[]) AS key
                   WHERE pg_try_advisory_lock(hashtextextended(%s || key, 0))""",
                (keys, self._name(connection, flow)),
            )
            return {row[0] for row in cur.fetchall()}

    def release(self, connection: str, flow: str, keys: Iterable[str]) -> None:
        keys = list(keys)
        if not keys:
            return
        with self._lock, self._conn.cursor() as cur:
            cur.execute(
                """SELECT pg_advisory_unlock(hashtextextended(%s || key, 0))
                   FROM unnest(%s::text[]) AS key""",
                (self._name(connection, flow), keys),
            )

    def close(self) -> None:
        """End the session: every lease it held is released."""
        self._conn.close()

    def __enter__(self) -> Leases:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
