"""What every system's client shares: OAuth2 client-credentials tokens, a rate limit
shared by every process calling the same host or tenant, retries with backoff and
the request timeouts, on one `HttpEngine`; closed by `close()` or a `with` block."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, Self

from connector_dagster.lib.http import Classifier, HttpEngine, RetryPolicy, Timeouts
from connector_dagster.lib.oauth import ClientCredentials, TokenPolicy, token_provider_for
from connector_dagster.lib.ratelimit import Rate
from connector_dagster.lib.shared_ratelimit import client_limiter


class ClientBasics(Protocol):
    """The settings every system's client has (its frozen settings dataclass)."""

    client_id: str
    client_secret: str
    rate_burst: int
    database_url: str | None
    timeout_s: float
    max_retries: int
    max_retry_time_s: float
    retry_after_max_s: float
    token_margin_s: float
    token_lifetime_s: float
    verify_tls: bool

    @property
    def timeouts(self) -> Timeouts: ...


class ApiClient:
    """Base of a system's client: `self.engine` sends its requests."""

    def __init__(
        self,
        s: ClientBasics,
        *,
        system: str,
        base_url: str,
        label: str,
        token_url: str,
        scope: str | None = None,
        shared_by: str,
        rate: Rate,
        headers: Mapping[str, str] | None = None,
        classify: Classifier | None = None,
        max_connections: int,
    ) -> None:
        tokens = token_provider_for(
            ClientCredentials(token_url, s.client_id, s.client_secret, scope),
            TokenPolicy(
                refresh_margin_s=s.token_margin_s,
                default_lifetime_s=s.token_lifetime_s,
                timeout_s=s.timeout_s,
                verify_tls=s.verify_tls,
            ),
        )
        self.engine = HttpEngine(
            base_url=base_url,
            label=label,
            limiter=client_limiter(system, shared_by, rate, s.database_url),
            tokens=tokens,
            headers=headers,
            retry=RetryPolicy(
                max_attempts=s.max_retries + 1,
                max_total_s=s.max_retry_time_s,
                retry_after_max_s=s.retry_after_max_s,
            ),
            timeouts=s.timeouts,
            classify=classify,
            max_connections=max_connections,
            verify_tls=s.verify_tls,
        )

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
