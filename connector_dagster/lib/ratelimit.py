"""Process-wide rate limiters: one per (API, tenant or host), shared by every thread.

`Limiter` is what the request engine needs from any limiter, this one or the
one shared by every process through PostgreSQL (`shared_ratelimit`). Each
process-wide limiter is a token bucket kept as a schedule (GCRA): `acquire()` reserves
the next free slot under a lock and sleeps outside it, so waiting threads are
served in order and the long-run rate never exceeds the configured one. A 429
from the server pushes the whole schedule back (`defer`), so every thread
waits, not only the one that was refused.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Rate:
    """`limit` requests per `period_s` seconds, at most `burst` back to back."""

    limit: float
    period_s: float = 1.0
    burst: int = 1

    @classmethod
    def per_second(cls, limit: float, burst: int = 1) -> Rate:
        return cls(limit, 1.0, burst)

    @classmethod
    def per_minute(cls, limit: float, burst: int = 1) -> Rate:
        return cls(limit, 60.0, burst)

    @property
    def per_s(self) -> float:
        return self.limit / self.period_s

    def __post_init__(self) -> None:
        if self.limit <= 0 or self.period_s <= 0:
            raise ValueError(f"a rate must be positive, got {self.limit}/{self.period_s} s")
        if self.burst < 1:
            raise ValueError(f"burst must be at least 1, got {self.burst}")


class Limiter(Protocol):
    """A blocking rate limit for one API bucket."""

    def acquire(self) -> float:
        """Block until a request may be sent; returns the time waited."""
        ...

    def defer(self, seconds: float) -> None:
        """Let no request start for `seconds` (the server asked us to back off)."""
        ...


class LimiterUnavailableError(RuntimeError):
    """The limiter cannot decide (its database is unreachable): no request may be sent.

    A limiter never lets requests through unlimited; the request engine turns
    this into a transient error for the request it was about to send."""


class RateLimiter:
    """A blocking token bucket for one API bucket, in this process."""

    def __init__(
        self,
        rate: Rate,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tat = clock()  # theoretical arrival time of the next request
        self.rate = rate

    @property
    def rate(self) -> Rate:
        return self._rate

    @rate.setter
    def rate(self, rate: Rate) -> None:
        with self._lock:
            self._rate = rate
            self._interval = 1.0 / rate.per_s
            self._tolerance = (rate.burst - 1) * self._interval

    def reserve(self) -> float:
        """Reserve the next slot; returns how long the caller must wait for it."""
        with self._lock:
            now = self._clock()
            tat = max(self._tat, now)
            self._tat = tat + self._interval
            return max(0.0, tat - self._tolerance - now)

    def acquire(self) -> float:
        """Block until a request may be sent; returns the time waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait

    def defer(self, seconds: float) -> None:
        """Let no request start for `seconds` (the server asked us to back off)."""
        with self._lock:
            self._tat = max(self._tat, self._clock() + seconds + self._tolerance)


_registry: dict[tuple[str, str], RateLimiter] = {}
_registry_lock = threading.Lock()


def limiter_for(api: str, bucket: str, rate: Rate) -> RateLimiter:
    """The process's limiter for (`api`, `bucket`), created on first use.

    Every client of the same API and tenant (or host) shares it, whichever
    thread or resource instance built the client. A changed `rate` (new
    configuration) is applied to the existing limiter.
    """
    key = (api, bucket)
    with _registry_lock:
        limiter = _registry.get(key)
        if limiter is None:
            limiter = _registry[key] = RateLimiter(rate)
        elif limiter.rate != rate:
            limiter.rate = rate
        return limiter
