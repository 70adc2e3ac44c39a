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
    """Requests one `$batch` may hold, its change sets together; a document of more is
    written request by request."""
    batch_documents: int = Field(10, ge=1, le=100)
    """Documents (each its own atomic change set) sent in one `$batch`: the creates that
    writer threads hand in together, up to this many. 10 lets a tenant's request limit
    carry ten times the documents (1000 requests/min: up to 10,000 documents/min) while
    a lost answer puts only ten documents in doubt, each looked up before it is sent
    again; a refused document fails alone either way."""
    batch_linger_ms: float = Field(50, ge=0, le=5000)
    """How long the first document of a `$batch` waits for others to join it before it
    is sent with fewer than `batch_documents`."""
    operations_per_min: float | None = Field(None, gt=0)
    """The tenant's limit on operations (each request inside a `$batch` counts one), if
    it has one; IFS publishes none. Set, a `$batch` waits until its operations fit."""

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return secure_url(v, "IFS host, like https://acme.ifs.cloud")

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/auth/realms/{self.realm}/protocol/openid-connect/token"
