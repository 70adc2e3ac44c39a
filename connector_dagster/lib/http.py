"""The request engine both API clients share: auth, rate limit, retries, classification.

`HttpTransport.request` sends one logical request over a pooled `httpx.Client`.
Every attempt waits for the connection's rate limiter (a limiter that cannot
decide fails the attempt as transient, unsent) and carries a fresh bearer
token (a token can expire during a long backoff). 429, 5xx, timeouts
and dropped connections are retried by tenacity with full-jitter exponential
backoff, bounded in attempts and total time; 429 waits for `Retry-After`
(clamped). A non-idempotent request (POST) whose answer was lost after it was
sent is never resent: it raises `OutcomeUnknownError`. Responses are parsed
with `Decimal` for every JSON number with a fraction, never float.
"""

from __future__ import annotations

import contextvars
import email.utils
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import tenacity

from connector_dagster.lib import fence
from connector_dagster.lib.errors import (
    ApiError,
    ErrorKind,
    OutcomeUnknownError,
    TransientError,
    api_message,
    error_for,
    parse_error_body,
)
from connector_dagster.lib.oauth import TokenProvider
from connector_dagster.lib.ratelimit import Limiter, LimiterUnavailableError

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
"""PATCH counts as idempotent here: our PATCHes set fields (ServiceTitan) or carry
If-Match (IFS), so a resend either repeats the same change or fails with 412."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one request."""

    max_attempts: int = 6
    max_total_s: float = 120.0
    """No retry starts once this much time (including waits) has passed."""
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    retry_after_min_s: float = 0.05
    """A `Retry-After` of zero or in the past still waits this long."""
    retry_after_max_s: float = 120.0
    """A longer `Retry-After` is not waited for: the request fails as transient."""
    pause_all_on_429: bool = True
    """A 429 pauses every thread sharing the limiter, not only the refused one."""


@dataclass(frozen=True)
class Timeouts:
    """Explicit httpx timeouts, in seconds."""

    connect_s: float = 10.0
    read_s: float = 100.0
    write_s: float = 10.0
    pool_s: float = 60.0

    @classmethod
    def of(cls, connect_s: float, read_s: float) -> Timeouts:
        """A connection's timeouts: connecting and writing a body within `connect_s`,
        an answer within `read_s`."""
        return cls(connect_s=connect_s, read_s=read_s, write_s=connect_s)

    @property
    def in_flight_s(self) -> float:
        """The longest one attempt can be on its way once sent: connecting, writing
        the request, waiting for the answer (waiting for a pooled connection comes
        before the send, so it does not count)."""
        return self.connect_s + self.write_s + self.read_s

    def to_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect_s, read=self.read_s, write=self.write_s, pool=self.pool_s
        )


@dataclass(frozen=True)
class Reply:
    """A successful answer: status, headers and the parsed JSON body (None if empty;
    with `raw=True` the body is left unparsed in `content`)."""

    status: int
    headers: httpx.Headers
    data: Any
    url: str
    content: bytes = b""


Classifier = Callable[[int, Any], ErrorKind | None]
"""(status, parsed error body) -> a kind, or None for the default by status."""

_KIND_BY_STATUS: dict[int, ErrorKind] = {
    400: ErrorKind.REJECTED,
    401: ErrorKind.AUTH,
    403: ErrorKind.AUTH,
    404: ErrorKind.NOT_FOUND,
    405: ErrorKind.REJECTED,
    408: ErrorKind.TRANSIENT,
    409: ErrorKind.CONFLICT,
    410: ErrorKind.NOT_FOUND,
    412: ErrorKind.CONFLICT,
    423: ErrorKind.TRANSIENT,
    425: ErrorKind.TRANSIENT,
    428: ErrorKind.REJECTED,
    429: ErrorKind.TRANSIENT,
}


AMBIGUOUS_STATUSES = frozenset({500, 502, 504})
"""Server errors after which a create may or may not have taken effect (the
server may fail after writing, a gateway may lose the answer). 429 and 503 are
refusals before any work, so a create is simply sent again after them."""


def kind_for_status(status: int) -> ErrorKind:
    """The default classification of an HTTP error status."""
    if status in _KIND_BY_STATUS:
        return _KIND_BY_STATUS[status]
    return ErrorKind.TRANSIENT if status >= 500 else ErrorKind.REJECTED


def encode_json(body: Any) -> bytes:
    """JSON for a request body; a Decimal becomes a JSON number with exactly its
    digits (never through a binary float), a date or datetime its ISO text."""
    nonce = secrets.token_hex(8)
    numbers: list[str] = []

    def placeholder(value: Decimal) -> str:
        if not value.is_finite():
            raise ValueError(f"{value} is not a JSON number")
        numbers.append(format(value, "f"))
        return f"{nonce}:{len(numbers) - 1}"

    def default(value: Any) -> Any:
        if isinstance(value, Decimal):
            return placeholder(value)
        if isinstance(value, date):  # datetime too
            return value.isoformat()
        raise TypeError(f"cannot encode {type(value).__name__} as JSON")

    text = json.dumps(body, default=default, ensure_ascii=False)
    for index, number in enumerate(numbers):
        text = text.replace(f'"{nonce}:{index}"', number, 1)
    return text.encode("utf-8")


def decode_json(content: bytes) -> Any:
    """Parse a JSON body with every fractional number as Decimal."""
    return json.loads(content, parse_float=Decimal)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP date);
    None when absent or unreadable. Past dates give 0."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else time.time()
    return max(0.0, when.timestamp() - current)


@dataclass
class _Attempts:
    count: int = 0


class HttpTransport:
    """Sends requests for one API connection; shared by all threads of a client."""

    def __init__(
        self,
        *,
        base_url: str,
        label: str,
        limiter: Limiter,
        tokens: TokenProvider | None = None,
        headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
        classify: Classifier | None = None,
        max_connections: int = 32,
        verify_tls: bool = True,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.label = label
        self.limiter = limiter
        self.tokens = tokens
        self.retry = retry or RetryPolicy()
        self.timeouts = timeouts or Timeouts()
        self._classify = classify
        self._sleep = sleep
        self._sent = 0
        self._sent_lock = threading.Lock()
        self._headers = {
            "Accept": "application/json",
            "User-Agent": "connector-dagster",
            **(headers or {}),
        }
        self._http = httpx.Client(
            base_url=base_url,
            timeout=self.timeouts.to_httpx(),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            verify=verify_tls,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    @property
    def requests_sent(self) -> int:
        """Requests this engine has sent or tried to send (every attempt; token requests
        excluded)."""
        return self._sent

    def url(self, path: str) -> str:
        """The absolute URL a relative path resolves to (for messages and nextLinks)."""
        return str(self._http.build_request("GET", path).url)

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        content: bytes | None = None,
        raw: bool = False,
    ) -> Reply:
        """Send `method path` (relative to the base URL, or absolute) until it
        succeeds or fails for good; raise a classified `ApiError` on failure.

        `path` is used verbatim: build query strings yourself (OData's `$`).
        `idempotent` defaults from the method (POST is not). A body that is not
        JSON goes in `content` with its Content-Type in `headers`; with `raw`, a
        successful answer's body is returned unparsed (`Reply.content`).
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        if json_body is not None:
            content = encode_json(json_body)
        extra = dict(headers or {})
        if json_body is not None:
            extra.setdefault("Content-Type", "application/json")
        attempts = _Attempts()
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.retry.max_attempts)
            | tenacity.stop_before_delay(self.retry.max_total_s),
            wait=self._wait,
            retry=tenacity.retry_if_exception(lambda e: isinstance(e, ApiError) and e.retryable),
            before_sleep=self._log_retry,
            sleep=self._sleep,
            reraise=True,
        )
        return retrying(self._attempt, method, path, content, extra, (idempotent, raw), attempts)

    def _attempt(
        self,
        method: str,
        path: str,
        content: bytes | None,
        headers: dict[str, str],
        how: tuple[bool, bool],
        attempts: _Attempts,
    ) -> Reply:
        attempts.count += 1
        idempotent, raw = how
        try:
            response = self._send(method, path, content, headers, idempotent)
            return self._reply(method, response, idempotent, raw)
        except ApiError as exc:
            exc.attempts = attempts.count
            raise

    def _send(
        self,
        method: str,
        path: str,
        content: bytes | None,
        headers: dict[str, str],
        idempotent: bool,
    ) -> httpx.Response:
        """One attempt; a 401 is answered once with a freshly fetched token."""
        refreshed = False
        while True:
            fence.check()
            try:
                self.limiter.acquire()
            except LimiterUnavailableError as exc:
                raise TransientError(
                    f"{self.label}: {exc}; the request will be retried",
                    method=method,
                    url=self.url(path),
                ) from None
            with self._sent_lock:
                self._sent += 1
            request_headers = {**self._headers, **headers}
            token = self.tokens.token() if self.tokens is not None else None
            if token is not None:
                request_headers["Authorization"] = f"Bearer {token}"
            request = self._http.build_request(
                method, path, content=content, headers=request_headers
            )
            fence.check()  # in a write step: only while its leases are provably held
            fence.sending(method)
            try:
                response = self._http.send(request)
            except httpx.TransportError as exc:
                raise self._transport_error(exc, method, str(request.url), idempotent) from None
            if response.status_code == 401 and token is not None and not refreshed:
                refreshed = True
                self.tokens.invalidate(token)  # type: ignore[union-attr]
                log.info("%s: 401 on %s %s, fetching a new token", self.label, method, request.url)
                continue
            return response

    def _transport_error(
        self, exc: httpx.TransportError, method: str, url: str, idempotent: bool
    ) -> ApiError:
        what = type(exc).__name__
        never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        if never_sent or idempotent:
            return TransientError(
                f"{self.label}: {what} ({exc}); the request will be retried",
                method=method,
                url=url,
            )
        return OutcomeUnknownError(
            f"{self.label}: {what} after the request was sent; it may have taken effect, "
            "so it is not resent: look the record up before creating it again",
            method=method,
            url=url,
            retryable=False,
        )

    def _reply(
        self, method: str, response: httpx.Response, idempotent: bool, raw: bool = False
    ) -> Reply:
        url = str(response.request.url)
        status = response.status_code
        content_type = response.headers.get("content-type", "")
        if 200 <= status < 300:
            if raw:
                return Reply(status, response.headers, None, url, response.content)
            if not response.content.strip():
                return Reply(status, response.headers, None, url)
            try:
                data = decode_json(response.content)
            except ValueError:
                body = parse_error_body(response.content, content_type)
                kind = ErrorKind.TRANSIENT if idempotent else ErrorKind.OUTCOME_UNKNOWN
                raise error_for(
                    kind,
                    f"{self.label}: HTTP {status} with a body that is not JSON "
                    f"({content_type or 'no content type'}: {api_message(body)})",
                    method=method,
                    url=url,
                    status=status,
                    body=body,
                    retryable=False,
                ) from None
            return Reply(status, response.headers, data, url)
        body = parse_error_body(response.content, content_type)
        kind = (self._classify(status, body) if self._classify else None) or kind_for_status(status)
        retry_after = None
        retryable = kind is ErrorKind.TRANSIENT
        message = f"{self.label}: {api_message(body) or response.reason_phrase}"
        if status == 429:
            retry_after, retryable, note = self._retry_after(response)
            message += note
        elif retryable and not idempotent and status in AMBIGUOUS_STATUSES:
            kind, retryable = ErrorKind.OUTCOME_UNKNOWN, False
            message += f"; HTTP {status} on a create may hide a success: look it up first"
        raise error_for(
            kind,
            message,
            method=method,
            url=url,
            status=status,
            body=body,
            retry_after=retry_after,
            retryable=retryable,
        )

    def _retry_after(self, response: httpx.Response) -> tuple[float | None, bool, str]:
        """(wait, retry?, message note) for a 429."""
        policy = self.retry
        asked = parse_retry_after(response.headers.get("retry-after"))
        if asked is None:
            return None, True, ""
        if asked > policy.retry_after_max_s:
            return (
                asked,
                False,
                f"; the server asked to wait {asked:.0f} s (Retry-After), more than the "
                f"{policy.retry_after_max_s:.0f} s this client waits: retry later",
            )
        wait = max(policy.retry_after_min_s, asked)
        if policy.pause_all_on_429:
            self.limiter.defer(wait)
        return wait, True, ""

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, ApiError) and exc.retry_after is not None:
            return exc.retry_after
        backoff = tenacity.wait_random_exponential(
            multiplier=self.retry.backoff_initial_s, max=self.retry.backoff_max_s
        )
        return backoff(state)

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("retrying in %.2f s (attempt %d failed): %s", wait, state.attempt_number, exc)


def map_concurrent(
    fn: Callable[[T], R],
    items: Iterable[T],
    workers: int,
    *,
    return_exceptions: bool = False,
) -> list[Any]:
    """`[fn(item) for item in items]` on a thread pool of `workers`, in order.

    With enough workers a slow API is driven up to its rate limiter's ceiling.
    With `return_exceptions`, a failing item yields its exception in place of a
    result and the others carry on; otherwise the first failure (in item order)
    is raised once the calls already running have finished.
    """
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        if not return_exceptions:
            return [fn(item) for item in items]
        return [_capture(fn, item) for item in items]
    call: Callable[[T], Any] = (lambda item: _capture(fn, item)) if return_exceptions else fn
    with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="api") as pool:
        # Each call runs in a copy of the caller's context: a write step's fence
        # follows its requests onto these threads.
        futures = [pool.submit(contextvars.copy_context().run, call, item) for item in items]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _capture(fn: Callable[[T], R], item: T) -> R | Exception:
    try:
        return fn(item)
    except Exception as exc:
        return exc
