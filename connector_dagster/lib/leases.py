"""Per-record leases, fenced in time: which write step may send a record's requests.

A lease is a row in PostgreSQL, not a database session, so it survives a restart of
the server, and it lapses unless renewed. The bound, with the connection's
`leases:` settings and its HTTP timeouts:

- a write step (the holder) renews its leases every `renew_s`; each renewal makes
  them last `ttl_s` more, on the database's clock;
- before every request it sends, the step checks that it can prove its leases:
  the last renewal began less than `ttl_s` ago (on its own monotonic clock) and
  none has failed. Otherwise it sends nothing more (`LeaseLost`);
- so its last request leaves before the lease expires, and is answered or timed
  out `in_flight_s` later (connect + write + read timeout of the slowest system);
- a record's lease passes to another step only once its holder released it (every
  request answered) or at `expires_at + in_flight_s`: a record whose create may have
  been sent ("in doubt") is looked up, never created blind, only after that.

A step that finds records held by another one watches that holder: a holder that
renews is alive and keeps them (the records are left to it); one that stops renewing
is waited out, at most `ttl_s + in_flight_s`, and its records taken.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import psycopg2
import psycopg2.extensions

from connector_dagster.lib.db import KEEPALIVES, connect, describe
from connector_dagster.lib.fence import LeaseLost

log = logging.getLogger(__name__)

BATCH = 5000
"""Keys per statement when taking leases: a period of any size, without advisory locks."""


@dataclass(frozen=True)
class LeaseTerms:
    """How long a lease lasts, how often it is renewed, and how long a request sent
    under it may still be on its way."""

    ttl_s: float = 30.0
    renew_s: float = 5.0
    in_flight_s: float = 120.0
    poll_s: float = 0.25
    """How often a step waiting for another's leases looks again."""

    @property
    def in_doubt_s(self) -> float:
        """The longest another step waits for a record of a holder that stopped."""
        return self.ttl_s + self.in_flight_s


def database_lost(url: str, exc: BaseException) -> str:
    """One line for a lost connection to the connector's database."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"the connector's database at {describe(url)} was lost ({first})"


class Leases:
    """The leases of one write step (`connection`, `flow`), on a session of their own,
    renewed by a thread of their own; `check()` is the step's fence."""

    def __init__(
        self,
        url: str,
        connection: str,
        flow: str,
        terms: LeaseTerms | None = None,
        run_id: str | None = None,
    ) -> None:
        self.url = url
        self.connection = connection
        self.flow = flow
        self.terms = terms or LeaseTerms()
        self.run_id = run_id
        self.holder = str(uuid.uuid4())
        self._conn: psycopg2.extensions.connection | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._valid_until = 0.0
        self._lost: str | None = None
        self._lost_lock = threading.Lock()

    # -- the holder ---------------------------------------------------------

    def open(self) -> Leases:
        """Register this step as a holder and start renewing."""
        t = self.terms
        timeout_ms = int(max(t.ttl_s, 5.0) * 1000)
        self._conn = connect(
            self.url,
            **KEEPALIVES,
            application_name="connector-leases",
            options=f"-c statement_timeout={timeout_ms} -c lock_timeout={timeout_ms}",
        )
        self._conn.autocommit = True
        started = time.monotonic()
        with self._lock, self._conn.cursor() as cur:
            cur.execute(
                """WITH lapsed AS (
                       DELETE FROM connector.lease_holders
                        WHERE expires_at + make_interval(secs => in_flight_s)
                              < now() - interval '1 day'
                       RETURNING holder)
                   DELETE FROM connector.record_leases
                    WHERE holder IN (SELECT holder FROM lapsed)"""
            )
            cur.execute(
                """INSERT INTO connector.lease_holders
                       (holder, connection, flow, run_id, host, pid, ttl_s, in_flight_s,
                        expires_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now() + make_interval(secs => %s))""",
                (self.holder, self.connection, self.flow, self.run_id, socket.gethostname(),
                 os.getpid(), t.ttl_s, t.in_flight_s, t.ttl_s),
            )  # fmt: skip
        self._valid_until = started + self._proven_s
        self._renewer = threading.Thread(
            target=self._renew_loop, name=f"leases-{self.flow}", daemon=True
        )
        self._renewer.start()
        return self

    @property
    def _proven_s(self) -> float:
        """How long after a renewal began the lease is provably held: the database
        set `now() + ttl` at some instant after that, less a margin for clock rates."""
        return self.terms.ttl_s - min(1.0, self.terms.ttl_s * 0.1)

    def check(self) -> None:
        """The fence: return while the leases are provably held, else `LeaseLost`."""
        if self._lost is None and time.monotonic() >= self._valid_until:
            self.lose(
                f"its leases could not be renewed within {self.terms.ttl_s:g} s "
                f"(renewed every {self.terms.renew_s:g} s)"
            )
        if self._lost is not None:
            raise LeaseLost(self._lost)

    @property
    def lost(self) -> str | None:
        """Why this step stopped sending, or None while it holds its leases."""
        return self._lost

    def lose(self, cause: str) -> None:
        """Stop sending: every later `check()` raises `LeaseLost(cause)` (the first
        cause is kept)."""
        with self._lost_lock:
            if self._lost is None:
                self._lost = cause
                log.warning("write step %s/%s stops sending: %s", self.connection, self.flow, cause)
        self._stop.set()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.terms.renew_s):
            try:
                self.renew()
            except Exception as exc:  # any failure: the lease can no longer be proven
                self.lose(database_lost(self.url, exc))
                return

    def renew(self) -> None:
        """Extend every lease of this step by `ttl_s`; a lease that lapsed meanwhile
        is lost (another step may take its records)."""
        started = time.monotonic()
        assert self._conn is not None
        with self._lock, self._conn.cursor() as cur:
            cur.execute(
                """UPDATE connector.lease_holders
                      SET expires_at = now() + make_interval(secs => ttl_s), renewed_at = now()
                    WHERE holder = %s AND expires_at > now()
                RETURNING expires_at""",
                (self.holder,),
            )
            renewed = cur.fetchone()
        if renewed is None:
            self.lose(
                f"its leases lapsed before they were renewed (lease {self.terms.ttl_s:g} s, "
                f"renewal every {self.terms.renew_s:g} s): the machine or the database was "
                "too slow"
            )
            return
        self._valid_until = max(self._valid_until, started + self._proven_s)

    def release(self) -> None:
        """Give the leases back (every request of the step has been answered), stop
        renewing, end the session. A lost database leaves them to lapse."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=self.terms.renew_s + 10)
        if self._conn is None:
            return
        try:
            if not self._conn.closed:
                with self._lock, self._conn.cursor() as cur:
                    cur.execute(
                        """WITH gone AS (DELETE FROM connector.record_leases WHERE holder = %s)
                           DELETE FROM connector.lease_holders WHERE holder = %s""",
                        (self.holder, self.holder),
                    )
        except psycopg2.Error:
            pass  # the database is gone: the leases lapse by themselves
        finally:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Leases:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.release()

    # -- records ------------------------------------------------------------

    def take(self, keys: Iterable[str]) -> set[str]:
        """Lease what is free of `keys` for this step; wait out a holder that stopped
        renewing. Returns the keys now held: the others are held by a live step."""
        keys = sorted(set(keys))
        held: set[str] = set()
        for start in range(0, len(keys), BATCH):
            held |= self._take(keys[start : start + BATCH])
        rest = [k for k in keys if k not in held]
        if rest:
            held |= self._wait_for_lapsed(rest)
        return held

    def _take(self, keys: list[str]) -> set[str]:
        if not keys:
            return set()
        self.check()
        assert self._conn is not None
        for attempt in range(5):
            try:
                with self._lock, self._conn.cursor() as cur:
                    cur.execute(
                        """INSERT INTO connector.record_leases AS l
                               (connection, flow, source_key, holder)
                           SELECT %s, %s, key, %s FROM unnest(%s::text[]) AS key ORDER BY key
                           ON CONFLICT (connection, flow, source_key) DO UPDATE
                               SET holder = EXCLUDED.holder
                             WHERE l.holder = EXCLUDED.holder OR NOT EXISTS (
                                   SELECT 1 FROM connector.lease_holders h
                                    WHERE h.holder = l.holder
                                      AND h.expires_at + make_interval(secs => h.in_flight_s)
                                          > now())
                           RETURNING source_key""",
                        (self.connection, self.flow, self.holder, keys),
                    )
                    return {row[0] for row in cur.fetchall()}
            except psycopg2.errors.DeadlockDetected:
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))
        return set()

    def _holders(self, keys: list[str]) -> dict[str, tuple[datetime, bool, list[str], str]]:
        """Who holds `keys` now: holder -> (expires_at, free to take, its keys, who)."""
        assert self._conn is not None
        with self._lock, self._conn.cursor() as cur:
            cur.execute(
                """SELECT l.holder::text, h.expires_at,
                          h.holder IS NULL
                          OR h.expires_at + make_interval(secs => h.in_flight_s) <= now(),
                          array_agg(l.source_key),
                          coalesce(h.run_id, '?') || ' (pid ' || coalesce(h.pid::text, '?')
                          || ' on ' || coalesce(h.host, '?') || ')'
                     FROM connector.record_leases l
                     LEFT JOIN connector.lease_holders h ON h.holder = l.holder
                    WHERE l.connection = %s AND l.flow = %s AND l.source_key = ANY(%s)
                      AND l.holder <> %s
                    GROUP BY 1, 2, 3, 5""",
                (self.connection, self.flow, keys, self.holder),
            )
            return {row[0]: (row[1], row[2], row[3], row[4]) for row in cur.fetchall()}

    def _wait_for_lapsed(self, keys: list[str]) -> set[str]:
        """Watch the holders of `keys`: one that renews (or releases) keeps its
        records; one that stopped renewing is waited out and its records taken."""
        held: set[str] = set()
        watched = {h: (expires, who) for h, (expires, _, _, who) in self._holders(keys).items()}
        if not watched:
            return self._take(keys)  # released meanwhile: free now
        announced: set[str] = set()
        while watched:
            self.check()
            now = self._holders(keys)
            for holder, (first_expiry, who) in list(watched.items()):
                current = now.get(holder)
                if current is None or (current[0] is not None and current[0] > first_expiry):
                    del watched[holder]  # alive: it renewed, or finished and released
                elif current[1]:
                    held |= self._take(current[2])
                    del watched[holder]
                elif holder not in announced:
                    announced.add(holder)
                    log.warning(
                        "%d %s records are leased by step %s, which has not renewed its "
                        "leases since; waiting until they lapse (at most %.0f s)",
                        len(current[2]), self.flow, who, self.terms.in_doubt_s,
                    )  # fmt: skip
            if watched:
                time.sleep(self.terms.poll_s)
        return held
