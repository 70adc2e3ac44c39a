"""OAuth2 client-credentials tokens, cached per connection and shared by all threads.

A `TokenProvider` fetches a token from the connection's token endpoint, keeps
it until shortly before it expires (from the response's `expires_in`), and lets
one thread fetch at a time while the others wait for that result (single
flight). After a 401 the caller hands back the refused token with
`invalidate()`, and the next `token()` fetches a fresh one. Tokens and secrets
never appear in logs, reprs or exception messages.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import httpx

from connector_dagster.lib.errors import (
    AuthError,
    TransientError,
    api_message,
    parse_error_body,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClientCredentials:
    """Where and as whom to ask for a token."""

    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str | None = None


@dataclass(frozen=True)
class TokenPolicy:
    """When to refresh, and how long to wait for the token endpoint."""

    refresh_margin_s: float = 30.0
    """Refresh this long before the token expires..."""
    refresh_margin_fraction: float = 0.25
    """...but never more than this share of its lifetime (short-lived tokens)."""
    default_lifetime_s: float = 180.0
    """Assumed when the endpoint omits `expires_in`."""
    timeout_s: float = 30.0
    verify_tls: bool = True


@dataclass(frozen=True)
class _Cached:
    token: str = field(repr=False)
    refresh_at: float
    lifetime_s: float = 0.0


class TokenProvider:
    """Client-credentials tokens for one connection, single flight across threads."""

    def __init__(
        self,
        credentials: ClientCredentials,
        policy: TokenPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.credentials = credentials
        self.policy = policy or TokenPolicy()
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: _Cached | None = None
        self._http = httpx.Client(
            timeout=self.policy.timeout_s, verify=self.policy.verify_tls, follow_redirects=False
        )
        self.fetches = 0

    def __repr__(self) -> str:
        c = self.credentials
        return f"TokenProvider(token_url={c.token_url!r}, client_id={c.client_id!r})"

    def token(self) -> str:
        """A valid access token, fetched only when the cached one is due for refresh."""
        cached = self._cached
        if cached is not None and self._clock() < cached.refresh_at:
            return cached.token
        with self._lock:
            cached = self._cached
            if cached is None or self._clock() >= cached.refresh_at:
                cached = self._cached = self._fetch()
            return cached.token

    @property
    def lifetime_s(self) -> float | None:
        """How long the token last fetched was granted for (its `expires_in`), if any."""
        cached = self._cached
        return cached.lifetime_s if cached is not None else None

    def invalidate(self, token: str) -> None:
        """Forget `token` (refused with 401) unless another thread already replaced it."""
        with self._lock:
            if self._cached is not None and self._cached.token == token:
                self._cached = None

    def close(self) -> None:
        self._http.close()

    def _fetch(self) -> _Cached:
        c = self.credentials
        form = {
            "grant_type": "client_credentials",
            "client_id": c.client_id,
            "client_secret": c.client_secret,
        }
        if c.scope:
            form["scope"] = c.scope
        context = {"method": "POST", "url": c.token_url}
        started = self._clock()
        try:
            response = self._http.post(
                c.token_url, data=form, headers={"Accept": "application/json"}
            )
        except httpx.TransportError as exc:
            raise TransientError(
                f"token endpoint unreachable ({type(exc).__name__}); it may be asleep, retry",
                **context,
            ) from None
        status = response.status_code
        body = parse_error_body(response.content, response.headers.get("content-type", ""))
        if status == 429 or status >= 500:
            raise TransientError(
                f"token endpoint failed: {api_message(body) or response.reason_phrase}",
                status=status,
                body=body,
                **context,
            )
        if status != 200:
            raise AuthError(
                f"client {c.client_id!r} was refused a token: "
                f"{_oauth_error(body) or response.reason_phrase}; check the client id, "
                "secret and realm of this connection",
                status=status,
                body=body,
                **context,
            )
        if not isinstance(body, dict):
            raise AuthError(
                "token endpoint answered "
                f"{response.headers.get('content-type') or 'no content type'} instead of a JSON "
                f"token ({api_message(body)}); check the token URL and realm",
                status=status,
                body=body if isinstance(body, str) else None,
                **context,
            )
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise AuthError(
                "token endpoint answered JSON without an access_token "
                f"(fields: {', '.join(sorted(body)) or 'none'})",
                status=status,
                **context,
            )
        lifetime = self._lifetime(body.get("expires_in"), context)
        margin = min(self.policy.refresh_margin_s, lifetime * self.policy.refresh_margin_fraction)
        self.fetches += 1
        log.debug("fetched a token for client %s, valid %.0f s", c.client_id, lifetime)
        return _Cached(token=token, refresh_at=started + lifetime - margin, lifetime_s=lifetime)

    def _lifetime(self, expires_in: object, context: dict[str, str]) -> float:
        if expires_in is None:
            return self.policy.default_lifetime_s
        try:
            lifetime = float(Decimal(str(expires_in)))
        except InvalidOperation:
            lifetime = -1.0
        if lifetime <= 0:
            raise AuthError(
                f"token endpoint answered an unusable expires_in {expires_in!r}", **context
            )
        return lifetime


def _oauth_error(body: object) -> str:
    if isinstance(body, dict) and "error" in body and not isinstance(body["error"], dict):
        description = body.get("error_description")
        return f"{body['error']}" + (f" ({description})" if description else "")
    return api_message(body)


_providers: dict[tuple[str, str, str | None], TokenProvider] = {}
_providers_lock = threading.Lock()


def token_provider_for(
    credentials: ClientCredentials, policy: TokenPolicy | None = None
) -> TokenProvider:
    """The process's provider for this connection's credentials.

    Clients built again for every step or resource instance share one cached
    token. New credentials for the same client (a rotated secret) or a new
    policy replace the provider.
    """
    key = (credentials.token_url, credentials.client_id, credentials.scope)
    policy = policy or TokenPolicy()
    with _providers_lock:
        provider = _providers.get(key)
        if provider is None or provider.credentials != credentials or provider.policy != policy:
            provider = _providers[key] = TokenProvider(credentials, policy)
        return provider
