"""ServiceTitan authentication: the OAuth2 client-credentials token endpoint,
bearer tokens with a lifetime (and early revocation as a fault), and the
per-call checks of `ST-App-Key`, the bearer token and the tenant."""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import threading
import time
from urllib.parse import parse_qs

from starlette.requests import Request

from connector_dagster.sandbox.config import SandboxConfig
from connector_dagster.sandbox.servicetitan.common import ApiError, Row

APP_KEY_HEADER = "st-app-key"
APP_KEY_QUERY = "servicetitanapplicationkey"


class OAuthError(Exception):
    """A token-endpoint failure, answered as `{"error", "error_description"}`."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.body = {"error": error, "error_description": description}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class Tokens:
    """Issued bearer tokens (JWT-shaped, opaque to clients) and when they were issued."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self._secret = secrets.token_bytes(32)
        self._issued: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self) -> Row:
        now = time.time()
        lifetime = self.config.st_token_lifetime_s
        header = _b64(b'{"alg":"HS256","typ":"JWT"}')
        claims = {
            "iss": "https://auth.servicetitan.io",
            "client_id": self.config.st_client_id,
            "tenant": self.config.st_tenant_id,
            "iat": int(now),
            "exp": int(now) + lifetime,
            "jti": secrets.token_hex(8),
        }
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = _b64(hmac.digest(self._secret, f"{header}.{payload}".encode(), "sha256"))
        token = f"{header}.{payload}.{signature}"
        with self._lock:
            self._issued[token] = time.monotonic()
        return {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}

    def problem(self, token: str, revoke_after_s: float) -> str | None:
        """Why `token` is not accepted now, or None when it is."""
        issued = self._issued.get(token)
        if issued is None:
            return "The access token is not valid."
        age = time.monotonic() - issued
        if age >= self.config.st_token_lifetime_s:
            return "The access token expired."
        if revoke_after_s and age >= revoke_after_s:
            return "The access token was revoked."
        return None

    def revoke_all(self) -> int:
        with self._lock:
            count = len(self._issued)
            self._issued.clear()
        return count


def _client_credentials(request: Request, form: dict[str, list[str]]) -> tuple[str, str]:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError:
            raise OAuthError(400, "invalid_client", "Malformed Basic credentials.") from None
        return user, password
    return (form.get("client_id") or [""])[0], (form.get("client_secret") or [""])[0]


async def token_response(request: Request, config: SandboxConfig, tokens: Tokens) -> Row:
    """`POST /connect/token` with `grant_type=client_credentials`."""
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        raise OAuthError(400, "invalid_request", "Use application/x-www-form-urlencoded.")
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    grant = (form.get("grant_type") or [""])[0]
    if grant != "client_credentials":
        raise OAuthError(400, "unsupported_grant_type", f"Grant type '{grant}' is not supported.")
    client_id, secret = _client_credentials(request, form)
    if not client_id or not secret:
        raise OAuthError(400, "invalid_request", "client_id and client_secret are required.")
    valid = hmac.compare_digest(client_id, config.st_client_id) & hmac.compare_digest(
        secret, config.st_client_secret
    )
    if not valid:
        raise OAuthError(400, "invalid_client", "Unknown client or wrong secret.")
    return tokens.issue()


def authorize(
    request: Request, tenant: str, config: SandboxConfig, tokens: Tokens, revoke_after_s: float
) -> None:
    """App key, then bearer token, then tenant; raises ApiError 401/403/404."""
    app_key = request.headers.get(APP_KEY_HEADER) or request.query_params.get(APP_KEY_QUERY)
    if not app_key:
        raise ApiError(401, "The ST-App-Key header is required.", {"ST-App-Key": ["Missing."]})
    if not hmac.compare_digest(app_key, config.st_app_key):
        raise ApiError(403, "The application key is not valid.", {"ST-App-Key": ["Unknown."]})
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(
            401,
            "A bearer token is required.",
            {"Authorization": ["Missing bearer token."]},
            {"WWW-Authenticate": "Bearer"},
        )
    reason = tokens.problem(token.strip(), revoke_after_s)
    if reason:
        raise ApiError(
            401,
            reason,
            {"Authorization": [reason]},
            {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{reason}"'},
        )
    if not tenant.isdigit():
        raise ApiError(404, f"Tenant '{tenant}' was not found.", {"tenant": ["Not an id."]})
    if tenant != config.st_tenant_id:
        raise ApiError(
            403, f"The token does not grant access to tenant {tenant}.", {"tenant": [tenant]}
        )
