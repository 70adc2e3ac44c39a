"""Why a delivery is refused, with which HTTP status, and how refusals are counted:
in memory, flushed to `connector.webhook_refusals` every second or so, so a flood of
forged requests costs the database one small write per second, not one per request."""

from __future__ import annotations

import threading
from collections import Counter

from psycopg2.extras import execute_values

from connector_dagster.lib.store import Store

STATUS = {
    "content_type": 415,
    "body_too_large": 413,
    "signature_missing": 401,
    "signature_malformed": 401,
    "signature_invalid": 401,
    "not_json": 400,
    "body_too_deep": 400,
    "envelope_invalid": 400,
    "event_type_unknown": 422,
    "tenant_unknown": 422,
    "event_too_old": 422,
    "event_in_future": 422,
    "key_missing": 503,
    "store_unavailable": 503,
}
"""Reason -> status. 401: not signed by a key of ours, so not ServiceTitan's word.
400/413/415: signed or not, the request itself is malformed. 422: an authentic,
well-formed event this connection does not take (another tenant, a type it was not
set up for, a `time` outside the connection's window): ServiceTitan retries it four
times within 400 s, then lists it under failed events, from where it can be replayed
once the connections file is fixed (for a stale event: its `max_event_age_hours`
raised); a 2xx would drop it for good. A stale event's retries cannot succeed, but
they are four and over within minutes, never endless. 503: the receiver cannot
store now (no key in the vault, database down); ServiceTitan's retries after 10,
30, 60 and 300 s deliver it once fixed."""


class Refused(Exception):
    """A delivery the receiver will not store; `reason` is a key of STATUS and the
    message says what is wrong without quoting the body or a secret."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = STATUS[reason]


class RefusalCounter:
    """Refusals per (connection, reason), added from any thread, flushed in batches."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def add(self, connection: str, reason: str) -> None:
        with self._lock:
            self._counts[(connection, reason)] += 1

    def flush(self, store: Store) -> int:
        """Add the counts to the table; on a database error they are kept for the
        next flush. Returns how many refusals were written."""
        with self._lock:
            counts, self._counts = self._counts, Counter()
        if not counts:
            return 0
        try:
            with store.cursor() as cur:
                execute_values(
                    cur,
                    """INSERT INTO connector.webhook_refusals AS r (connection, reason, refused)
                       VALUES %s
                       ON CONFLICT (connection, reason) DO UPDATE
                       SET refused = r.refused + EXCLUDED.refused, last_at = now()""",
                    [(c, reason, n) for (c, reason), n in sorted(counts.items())],
                )
        except Exception:
            with self._lock:
                self._counts.update(counts)
            raise
        return sum(counts.values())
