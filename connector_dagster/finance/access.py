"""What protects finance's page: a login (HTTP basic auth whose password is the token in
`CONNECTOR_FINANCE_TOKEN`, or a bearer token), required for any address but loopback;
on loopback without a token, only requests naming a loopback host (no DNS rebinding).
Every form carries a per-process CSRF token; every answer forbids scripts, frames and
caching."""

from __future__ import annotations

import base64
import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field

from connector_dagster.lib.settings import ConfigError

TOKEN_VAR = "CONNECTOR_FINANCE_TOKEN"  # noqa: S105  (the variable's name)
MIN_TOKEN = 16
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Access:
    """The page's protection, fixed when it starts."""

    token: str | None
    loopback: bool
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @classmethod
    def for_host(cls, host: str, token: str | None) -> Access:
        """The protection for a page bound to `host`: a token is required beyond loopback."""
        token = (token or "").strip() or None
        loopback = is_loopback(host)
        if token is None and not loopback:
            raise ConfigError(
                f"finance's page on {host} is reachable beyond this machine: set {TOKEN_VAR} "
                f"(at least {MIN_TOKEN} characters) so that it asks for a login, or bind it "
                "to 127.0.0.1"
            )
        if token is not None and len(token) < MIN_TOKEN:
            raise ConfigError(f"{TOKEN_VAR} has {len(token)} characters; use at least {MIN_TOKEN}")
        return cls(token, loopback)

    def host_allowed(self, host_header: str) -> bool:
        """Without a login, only loopback names may be asked for (a page that another
        site's name resolves to 127.0.0.1 gets nothing)."""
        if self.token is not None:
            return True
        name = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") else host_header
        return name.strip("[]").lower() in LOOPBACK_NAMES

    def user(self, authorization: str | None) -> str | None:
        """The login's user name ("" for a bearer token), or None when it is missing or
        wrong. Without a token every request is let in, as ""."""
        if self.token is None:
            return ""
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() == "bearer":
            return "" if hmac.compare_digest(value.strip().encode(), self.token.encode()) else None
        if scheme.lower() != "basic":
            return None
        try:
            login = base64.b64decode(value.strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        user, _, password = login.partition(":")
        return user if hmac.compare_digest(password.encode(), self.token.encode()) else None

    def csrf_ok(self, sent: str | None) -> bool:
        return sent is not None and hmac.compare_digest(sent.encode(), self.csrf.encode())
