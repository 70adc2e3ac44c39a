"""What every system's client shares: OAuth2 client-credentials tokens, a rate limit
shared by every process calling the same host or tenant, retries with backoff and
the request timeouts, on one `HttpTransport`; closed by `close()` or a `with` block."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, Self

from connector_dagster.lib.http import Classifier, HttpTransport, RetryPolicy, Timeouts
from connector_dagster.lib.oauth import ClientCredentials, TokenPolicy, token_provider_for
from connector_dagster.lib.ratelimit import Rate
from connector_dagster.lib.shared_ratelimit import client_limiter


@dataclass(frozen=True, kw_only=True)
class ClientSettings:
    """What every system's client settings hold (each system's dataclass adds its own
    fields and sets its defaults): credentials, limits, retries and timeouts."""

    client_id: str
    client_secret: str = field(repr=False)
    name: str = "default"
    """The connection's name, used in error messages."""
    rate_burst: int = 1
    database_url: str | None = field(default=None, repr=False)
    """PostgreSQL holding the rate limit shared by every process calling the same host
    or tenant; None keeps the limit per process (tests, one-off scripts)."""
    concurrency: int = 4
    timeout_s: float = 30.0
    connect_timeout_s: float = 10.0
    max_retries: int = 5
    max_retry_time_s: float = 120.0
    retry_after_max_s: float = 120.0
    token_margin_s: float = 30.0
    token_lifetime_s: float = 180.0
    """Assumed only when the token endpoint omits `expires_in`."""
    verify_tls: bool = True

    @property
    def timeouts(self) -> Timeouts:
        """Connect (and body write) and read timeouts of one request."""
        return Timeouts.of(self.connect_timeout_s, self.timeout_s)


class Endpoint(Protocol):
    """Where a client's settings say it sends requests, and as whom they count."""

    @property
    def api_base(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def token_url(self) -> str: ...
    @property
    def shared_by(self) -> str: ...
    @property
    def rate(self) -> Rate: ...


class ApiClient:
    """Base of a system's client: `self.transport` sends its requests."""

    def __init__(
        self,
        s: Any,
        *,
        system: str,
        headers: Mapping[str, str] | None = None,
        classify: Classifier | None = None,
        min_connections: int,
    ) -> None:
        """`s`: a `ClientSettings` that is an `Endpoint` too (see IfsSettings)."""
        tokens = token_provider_for(
            ClientCredentials(s.token_url, s.client_id, s.client_secret, getattr(s, "scope", None)),
            TokenPolicy(
                refresh_margin_s=s.token_margin_s,
                default_lifetime_s=s.token_lifetime_s,
                timeout_s=s.timeout_s,
                verify_tls=s.verify_tls,
            ),
        )
        self.transport = HttpTransport(
            base_url=s.api_base,
            label=s.label,
            limiter=client_limiter(system, s.shared_by, s.rate, s.database_url),
            tokens=tokens,
            headers=headers,
            retry=RetryPolicy(
                max_attempts=s.max_retries + 1,
                max_total_s=s.max_retry_time_s,
                retry_after_max_s=s.retry_after_max_s,
            ),
            timeouts=s.timeouts,
            classify=classify,
            max_connections=max(min_connections, s.concurrency * 2),
            verify_tls=s.verify_tls,
        )

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
