"""An IFS Cloud environment in a connection (`ifs:` in the connections file)."""

from __future__ import annotations

from pydantic import Field, field_validator

from connector_dagster.systems.settings import SystemSettings, secure_url


class IfsConnection(SystemSettings):
    base_url: str
    realm: str
    company: str
    rate_per_min: float = Field(1000, gt=0)
    page_size: int = Field(500, gt=0, le=10000)
    timeout_s: float = Field(30, gt=0)
    """Read timeout of one request: how long an answer is waited for."""
    connect_timeout_s: float = Field(10, gt=0)
    """Connect timeout, also the write timeout of a request's body."""
    token_margin_s: float = Field(30, ge=0)
    batch: bool = False
    """Write a document's header and rows as one `$batch` change set (all or nothing,
    one request); off by default, since a tenant's limits on `$batch` are unverified."""
    batch_max_requests: int = Field(100, ge=2, le=1000)
    """Requests one change set may hold; a larger document is written request by request."""

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return secure_url(v, "IFS host, like https://acme.ifs.cloud")

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/auth/realms/{self.realm}/protocol/openid-connect/token"
