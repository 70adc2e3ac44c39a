"""IFS Cloud simulator: Keycloak client-credentials tokens and OData projections.

`create_app(config, profile)` serves the projections of `schema.SERVICES`
at `/{main|int|b2b}/ifsapplications/projection/v1/{P}.svc/...` (entity services
at `/int/ifsapplications/entity/v1/...`, see `endpoint`), the token endpoint
at `/auth/realms/{realm}/protocol/openid-connect/token` (`auth`) and the
control endpoints under `/_sandbox/` (`control`), all behind
`faults.SandboxMiddleware`. Behaviours the reference leaves unverified are
switches in `IfsBehaviour`, changeable at run time via `/_sandbox/behaviour`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from connector_dagster.sandbox import world
from connector_dagster.sandbox.config import SandboxConfig
from connector_dagster.sandbox.faults import (
    FaultProfile,
    RateLimiter,
    RequestStats,
    SandboxMiddleware,
)
from connector_dagster.sandbox.ifs import auth, control, releases, seed
from connector_dagster.sandbox.ifs.auth import Tokens, bearer_token
from connector_dagster.sandbox.ifs.endpoint import ODATA_PATH, odata, raw_path
from connector_dagster.sandbox.ifs.odata import ODataError
from connector_dagster.sandbox.ifs.responses import dumps, error_response
from connector_dagster.sandbox.ifs.store import IfsStore

_METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE"]


@dataclass
class IfsBehaviour:
    """Switches for behaviour the reference leaves unverified ([U]); defaults are the likeliest."""

    missing_if_match: str = "upsert"  # PATCH/DELETE without If-Match: "upsert" or "428"
    csrf_on_main: bool = True  # writes on /main/ and /b2b/ need an X-XSRF-TOKEN header
    page_size: int = 500  # server page size; beyond it a nextLink with $skiptoken
    not_implemented_status: int = 501  # of ODP_NOT_IMPLEMENTED: $expand, $count, $apply...
    count_supported: bool = False  # $count=true and /$count
    patch_returns_entity: bool = False  # PATCH answers 200 + entity (else 204 + ETag)
    basic_client_auth: bool = True  # the token endpoint accepts HTTP Basic client credentials
    po_manual_numbering: bool = True  # a new purchase order may bring its own OrderNo
    po_locked_states: tuple[str, ...] = ("Received", "Closed", "Cancelled")  # no API changes
    allow_unbalanced_vouchers: bool = False  # the load type lets Check pass unbalanced ones
    batch_max_requests: int = 1000  # requests in one $batch, change sets included
    max_url_length: int = 8192  # longer request targets (path and query) are answered 414
    release: str = ""  # the IFS release whose projection and set names are served (`releases`)
    renames: dict[str, str] = field(default_factory=dict)  # more renames, see `releases`

    def __post_init__(self) -> None:
        if self.missing_if_match not in ("upsert", "428"):
            raise ValueError("missing_if_match must be 'upsert' or '428'")
        if self.page_size < 1:
            raise ValueError("page_size must be at least 1")
        if self.batch_max_requests < 1 or self.max_url_length < 1:
            raise ValueError("batch_max_requests and max_url_length must be at least 1")
        unknown = set(self.po_locked_states) - set(world.PO_STATES)
        if isinstance(self.po_locked_states, str) or unknown:
            raise ValueError(f"po_locked_states must be a list of {', '.join(world.PO_STATES)}")
        self.po_locked_states = tuple(self.po_locked_states)
        self.names = releases.names_for(self.release, self.renames)

    @classmethod
    def from_config(cls, config: SandboxConfig) -> IfsBehaviour:
        return cls(
            missing_if_match=config.ifs_missing_if_match,
            csrf_on_main=config.ifs_csrf_on_main,
            page_size=config.ifs_page_size,
        )


def create_app(
    config: SandboxConfig,
    profile: FaultProfile,
    behaviour: IfsBehaviour | None = None,
    saved: dict[str, Any] | None = None,
) -> Starlette:
    """The IFS simulator as an ASGI app, seeded from `config.seed` and `config.scale`
    as of the sandbox's clock (a reset returns to that same seed), or holding the data
    `saved` by `snapshot` (a reset returns to the seed it grew from)."""
    if saved is None:
        seeded_as_of = config.seeded_as_of()
    else:
        seeded_as_of = datetime.fromisoformat(saved["seededAsOf"])
    store = IfsStore(
        lambda: seed.generate(config.seed, config.scale, seeded_as_of, config.months_of_orders()),
        None if saved is None else saved["store"],
    )
    tokens = Tokens(config.ifs_token_lifetime_s)
    sandbox = SandboxMiddleware(
        _not_built_yet,
        profile=profile,
        stats=RequestStats(),
        limiter=RateLimiter(config.ifs_rate_per_min / 60),
        error_body=_error_body,
        route_of=route_of,
        limit_key=lambda scope: _limit_key(scope, tokens, sandbox),
    )

    def wrap(inner: ASGIApp) -> SandboxMiddleware:
        sandbox.app = inner
        return sandbox

    app = Starlette(
        routes=[
            Route("/{tier}/ifsapplications/{kind}/v1/{rest:path}", odata, methods=_METHODS),
            *auth.routes(),
            *control.routes(),
        ],
        middleware=[Middleware(wrap)],
        exception_handlers={ODataError: _odata_error, 404: _http_error, 405: _http_error},
    )
    app.state.config = config
    app.state.seeded_as_of = seeded_as_of
    app.state.behaviour = behaviour or IfsBehaviour.from_config(config)
    app.state.store = store
    app.state.tokens = tokens
    app.state.sandbox = sandbox
    app.state.operations = RateLimiter(config.ifs_operations_per_min / 60)
    app.state.stale_etag_dice = (None, random.Random())  # (profile seeded for, dice)
    return app


def snapshot(app: Starlette) -> dict[str, Any]:
    """The simulator's stored data, as `create_app(saved=...)` takes it back once
    encoded and decoded; live objects, to be encoded before the next request."""
    return {"seededAsOf": app.state.seeded_as_of.isoformat(), "store": app.state.store.snapshot()}


async def _not_built_yet(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("Starlette sets the inner app when it builds the middleware stack")


# -- plumbing ----------------------------------------------------------------------------------


def _error_body(status: int, message: str) -> tuple[bytes, str]:
    """Injected faults in IFS's shape; a 500 is IFS's retryable MI_MODIFIED_ERROR."""
    if status == 500:
        error = ODataError(500, "MI_MODIFIED_ERROR", "Service metadata already modified.")
    else:
        error = ODataError(status, "TOO_MANY_REQUESTS" if status == 429 else "ERROR", message)
    return dumps(error.body()), "application/json"


async def _odata_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ODataError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        error = ODataError(405, "ODP_METHOD_NOT_ALLOWED", "Method not allowed.")
    else:
        error = ODataError(404, "ODP_RESOURCE_NOTFOUND", "Resource not found.")
    return error_response(error)


def route_of(scope: Scope) -> str:
    """A stable label per endpoint, e.g. `PATCH PurchaseOrderHandling.svc/PurchaseOrderSet(key)`."""
    method, path = scope["method"], raw_path(scope)
    m = ODATA_PATH.fullmatch(path)
    if m is None:
        label = auth.TOKEN_PATH if path.endswith("/openid-connect/token") else "(other)"
        return f"{method} {label}"
    first, _, more = (m.group(4) or "").partition("/")
    name, paren, _ = first.partition("(")
    return f"{method} {m.group(3)}.svc/{name}{'(key)' if paren else ''}{'/' + more if more else ''}"


def _limit_key(scope: Scope, tokens: Tokens, sandbox: SandboxMiddleware) -> str | None:
    if scope["path"].startswith("/auth/"):
        return None
    for name, value in scope["headers"]:
        if name == b"authorization":
            token = bearer_token(value.decode("latin-1"))
            return tokens.client_of(token, sandbox.profile.revoke_tokens_after_s)
    return None
