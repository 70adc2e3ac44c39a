"""IFS IAM (Keycloak) as the simulator serves it: the token endpoint and token store.

Client credentials in the form body (or HTTP Basic), opaque bearer tokens
that expire after `config.ifs_token_lifetime_s`, Keycloak-style error bodies.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
import uuid
from urllib.parse import parse_qsl, unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

TOKEN_PATH = "/auth/realms/{realm}/protocol/openid-connect/token"  # noqa: S105
DISCOVERY_PATH = "/auth/realms/{realm}/.well-known/openid-configuration"
TOKEN_SCOPE = "openid audience microprofile-jwt profile email"  # noqa: S105
REFRESH_LIFETIME_S = 1800
_PURGE_ABOVE = 10_000


class Tokens:
    """Opaque access and refresh tokens with their client and expiry, in memory."""

    def __init__(self, lifetime_s: float) -> None:
        self.lifetime_s = lifetime_s
        self._access: dict[str, tuple[str, float, float]] = {}  # token -> client, issued, expires
        self._refresh: dict[str, tuple[str, float]] = {}  # token -> client, expires

    def issue(self, client_id: str) -> tuple[str, str]:
        """A new (access token, refresh token) pair."""
        now = time.monotonic()
        if len(self._access) > _PURGE_ABOVE:
            self._access = {t: v for t, v in self._access.items() if v[2] > now}
            self._refresh = {t: v for t, v in self._refresh.items() if v[1] > now}
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self._access[access] = (client_id, now, now + self.lifetime_s)
        self._refresh[refresh] = (client_id, now + REFRESH_LIFETIME_S)
        return access, refresh

    def client_of(self, token: str, revoke_after_s: float = 0.0) -> str | None:
        """The client a live access token belongs to; None if unknown, expired or revoked."""
        entry = self._access.get(token)
        if entry is None:
            return None
        client_id, issued, expires = entry
        now = time.monotonic()
        if now >= expires or (revoke_after_s > 0 and now - issued >= revoke_after_s):
            return None
        return client_id

    def redeem(self, refresh: str) -> str | None:
        """The client of a live refresh token, which is used up."""
        entry = self._refresh.pop(refresh, None)
        return entry[0] if entry and entry[1] > time.monotonic() else None

    def clear(self) -> None:
        self._access.clear()
        self._refresh.clear()

    def __len__(self) -> int:
        return len(self._access)


def bearer_token(authorization: str) -> str:
    """The token of an `Authorization: Bearer …` header value, or ''."""
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _keycloak_error(status: int, error: str, description: str) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status)


def _no_realm() -> Response:
    return JSONResponse({"error": "Realm does not exist"}, 404)


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, _, secret = decoded.partition(":")
    return unquote(client_id), unquote(secret)


async def token_endpoint(request: Request) -> Response:
    """Keycloak's client-credentials grant (and refresh-token grant)."""
    state = request.app.state
    config = state.config
    if request.path_params["realm"] != config.ifs_realm:
        return _no_realm()
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    client_id, secret = form.get("client_id"), form.get("client_secret")
    basic = _basic_credentials(request.headers.get("authorization", ""))
    if basic and state.behaviour.basic_client_auth:
        client_id, secret = basic
    grant = form.get("grant_type")
    if not grant:
        return _keycloak_error(400, "invalid_request", "Missing form parameter: grant_type")
    if grant not in ("client_credentials", "refresh_token"):
        return _keycloak_error(400, "unsupported_grant_type", "Unsupported grant_type")
    if client_id != config.ifs_client_id or not secrets.compare_digest(
        (secret or "").encode(), config.ifs_client_secret.encode()
    ):
        return _keycloak_error(
            401, "unauthorized_client", "Invalid client or Invalid client credentials"
        )
    tokens: Tokens = state.tokens
    if grant == "refresh_token" and tokens.redeem(form.get("refresh_token", "")) != client_id:
        return _keycloak_error(400, "invalid_grant", "Invalid refresh token")
    access, refresh = tokens.issue(client_id)
    body = {
        "access_token": access,
        "expires_in": config.ifs_token_lifetime_s,
        "refresh_expires_in": REFRESH_LIFETIME_S,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "id_token": secrets.token_urlsafe(48),
        "not-before-policy": 0,
        "session_state": str(uuid.uuid4()),
        "scope": TOKEN_SCOPE,
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


async def discovery(request: Request) -> Response:
    """The realm's OpenID configuration, where clients find the token endpoint."""
    realm = request.path_params["realm"]
    if realm != request.app.state.config.ifs_realm:
        return _no_realm()
    issuer = f"{request.url.scheme}://{request.url.netloc}/auth/realms/{realm}"
    return JSONResponse(
        {
            "issuer": issuer,
            "token_endpoint": f"{issuer}/protocol/openid-connect/token",
            "grant_types_supported": ["client_credentials", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        }
    )


def routes() -> list[Route]:
    return [
        Route(TOKEN_PATH, token_endpoint, methods=["POST"]),
        Route(DISCOVERY_PATH, discovery, methods=["GET"]),
    ]
