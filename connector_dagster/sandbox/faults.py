"""Fault injection, request counting and server-side rate limiting for the simulators.

One `FaultProfile` per simulator, changeable at run time through the
`/_sandbox/faults` control endpoint. `SandboxMiddleware` wraps a simulator's
ASGI app: it counts every request by endpoint and status, enforces the rate
limit (429 with Retry-After) and injects latency, 429, 5xx, HTML error pages,
connection resets and timeouts. Paths under `/_sandbox/` are never faulted,
limited or counted.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

CONTROL_PREFIX = "/_sandbox"


@dataclass
class FaultProfile:
    """What to inject, per request. Rates are probabilities in [0, 1]."""

    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_html: float = 0.0  # 5xx answered with an HTML page instead of JSON
    rate_reset: float = 0.0  # connection dropped mid-response
    rate_timeout: float = 0.0  # no answer for `timeout_s`
    timeout_s: float = 30.0
    retry_after_s: float = 1.0
    # Apply faults only to these methods (empty = all), e.g. ["POST", "PATCH"].
    methods: list[str] = field(default_factory=list)
    # Rate of writes preceded by a concurrent edit that makes the ETag stale (IFS).
    rate_stale_etag: float = 0.0
    # Tokens revoked this many seconds after issue (0 = never early).
    revoke_tokens_after_s: float = 0.0
    # Accounting periods (YYYY-MM) closed for posting.
    closed_periods: list[str] = field(default_factory=list)
    # ServiceTitan: API resources the app has no scope for, as `module/resource`
    # (`accounting/journal-entries`): every route under one is answered 403.
    forbidden_routes: list[str] = field(default_factory=list)
    # Requests (of `methods`, to a path containing `hold_path_part`) are held
    # unanswered while this file exists: a test decides when they go on (two runs
    # made to overlap, whatever the machine's load).
    hold_while_file: str = ""
    hold_path_part: str = ""
    # Seed for the fault dice, so a profile replays the same sequence.
    seed: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultProfile:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault profile field(s): {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def from_file(cls, path: str | Path, system: str | None = None) -> FaultProfile:
        """Load a profile from JSON or YAML; the file may hold one profile for
        both systems, or one per system under the keys `ifs` and `servicetitan`."""
        text = Path(path).read_text(encoding="utf-8")
        if str(path).endswith((".yaml", ".yml")):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = json.loads(text)
        if {"ifs", "servicetitan"} & set(data):
            data = data.get(system or "", {})
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TokenBucket:
    """A thread-safe token bucket: `rate` tokens per second, `burst` at most."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._tokens = self.burst
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def take(self, count: float = 1) -> float:
        """Take `count` tokens. Returns 0 when granted, else seconds until they are free.
        More than `burst` at once are granted when the bucket is full, and owed."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            needed = min(count, self.burst)
            if self._tokens >= needed:
                self._tokens -= count
                return 0.0
            return (needed - self._tokens) / self.rate


class RateLimiter:
    """One bucket per key (client id, or app key and tenant)."""

    def __init__(self, per_second: float, burst: float | None = None) -> None:
        self.per_second = per_second
        self.burst = burst
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def check(self, key: str, count: float = 1) -> float:
        """Take `count` from the key's bucket: 0 when granted, else seconds to wait."""
        if self.per_second <= 0:
            return 0.0
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(self.per_second, self.burst)
        return bucket.take(count)


@dataclass
class RequestStats:
    """Requests seen, by (method, route, status)."""

    counts: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, method: str, route: str, status: int) -> None:
        with self.lock:
            self.counts[(method, route, status)] += 1

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {"method": m, "route": r, "status": s, "count": n}
                for (m, r, s), n in sorted(self.counts.items())
            ]

    def reset(self) -> None:
        with self.lock:
            self.counts.clear()


ErrorBody = Callable[[int, str], tuple[bytes, str]]
"""(status, message) -> (body, content type), in the simulated API's own format."""

RouteOf = Callable[[Scope], str]
"""Scope -> a route label for counting, e.g. 'GET /purchase-orders/{id}'."""

LimitKey = Callable[[Scope], str | None]
"""Scope -> the rate-limit bucket key, or None for requests that are not limited."""


class SandboxMiddleware:
    """Counts, rate-limits and faults every request outside `/_sandbox/`."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        profile: FaultProfile,
        stats: RequestStats,
        limiter: RateLimiter,
        error_body: ErrorBody,
        route_of: RouteOf,
        limit_key: LimitKey,
    ) -> None:
        self.app = app
        self.profile = profile
        self.stats = stats
        self.limiter = limiter
        self.error_body = error_body
        self.route_of = route_of
        self.limit_key = limit_key
        self._dice = random.Random(profile.seed)

    def set_profile(self, profile: FaultProfile) -> None:
        self.profile = profile
        self._dice = random.Random(profile.seed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        route = self.route_of(scope)
        status_seen = 0

        async def counting_send(message: dict) -> None:
            nonlocal status_seen
            if message["type"] == "http.response.start":
                status_seen = message["status"]
            await send(message)

        try:
            await self._handle(scope, receive, counting_send, method)
        finally:
            self.stats.add(method, route, status_seen)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, method: str) -> None:
        p = self.profile
        if p.latency_ms or p.latency_jitter_ms:
            delay = p.latency_ms + self._dice.uniform(0, p.latency_jitter_ms)
            await asyncio.sleep(max(0.0, delay) / 1000)

        key = self.limit_key(scope)
        if key is not None:
            wait = self.limiter.check(key)
            if wait > 0:
                await self._error(send, 429, "Rate limit exceeded", retry_after=wait)
                return

        if p.methods and method not in p.methods:
            await self.app(scope, receive, send)
            return
        while (
            p.hold_while_file
            and p.hold_path_part in scope["path"]
            and os.path.exists(p.hold_while_file)
        ):
            await asyncio.sleep(0.01)
        roll = self._dice.random()
        for rate, action in (
            (p.rate_429, "429"),
            (p.rate_500, "500"),
            (p.rate_html, "html"),
            (p.rate_reset, "reset"),
            (p.rate_timeout, "timeout"),
        ):
            if roll < rate:
                await self._inject(action, scope, receive, send)
                return
            roll -= rate
        await self.app(scope, receive, send)

    async def _inject(self, action: str, scope: Scope, receive: Receive, send: Send) -> None:
        p = self.profile
        if action == "429":
            await self._error(send, 429, "Too many requests", retry_after=p.retry_after_s)
        elif action == "500":
            await self._error(send, 500, "Internal server error")
        elif action == "html":
            body = (
                b"<html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>"
            )
            await _send(send, 502, body, "text/html")
        elif action == "reset":
            # The request reaches the application (a write may take effect), then
            # the connection drops before the response body is complete.
            await self.app(scope, receive, _drop_body(send))
        elif action == "timeout":
            # The request takes effect, but the answer comes too late.
            await self.app(scope, receive, _delayed(send, p.timeout_s))

    async def _error(self, send: Send, status: int, message: str, retry_after: float = 0) -> None:
        body, ctype = self.error_body(status, message)
        headers = []
        if retry_after:
            headers.append((b"retry-after", str(max(1, round(retry_after + 0.499))).encode()))
        await _send(send, status, body, ctype, headers)


async def _send(
    send: Send, status: int, body: bytes, ctype: str, headers: list | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", ctype.encode()),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ConnectionDropped(Exception):
    """Raised inside the ASGI app to make the server drop the connection."""


def _drop_body(send: Send) -> Send:
    async def dropping(message: dict) -> None:
        if message["type"] == "http.response.start":
            await send(message)
            return
        raise ConnectionDropped("sandbox fault: connection reset")

    return dropping


def _delayed(send: Send, seconds: float) -> Send:
    async def delayed(message: dict) -> None:
        if message["type"] == "http.response.start":
            await asyncio.sleep(seconds)
        await send(message)

    return delayed
