"""The ServiceTitan simulator: `create_app(config, profile)` serves the token
endpoint and the inventory, accounting, jpm and settings APIs under
`/{module}/v2/tenant/{tenant}/…`, wrapped in `faults.SandboxMiddleware`, plus the
`/_sandbox/` control endpoints (see `control`).

State lives on `app.state.sim` (a `state.SimState`); the middleware is `app.state.sandbox`."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

from connector_dagster.sandbox.config import SandboxConfig
from connector_dagster.sandbox.faults import (
    FaultProfile,
    RateLimiter,
    RequestStats,
    SandboxMiddleware,
)
from connector_dagster.sandbox.servicetitan import (
    accounting,
    bills,
    control,
    gl_accounts,
    inventory,
    journal,
    jpm,
    pricebook,
    references,
    settings,
)
from connector_dagster.sandbox.servicetitan.auth import (
    APP_KEY_HEADER,
    APP_KEY_QUERY,
    OAuthError,
    Tokens,
    authorize,
    token_response,
)
from connector_dagster.sandbox.servicetitan.common import ApiError, dumps, problem_body
from connector_dagster.sandbox.servicetitan.seed import build
from connector_dagster.sandbox.servicetitan.state import SimState
from connector_dagster.sandbox.servicetitan.store import NO_CONTENT, Call, Created, Store
from connector_dagster.sandbox.servicetitan.webhooks import Webhooks

AUTH_PATH = "/connect/token"
API_VERSION = "v2"
JSON = "application/json"
_APP_KEY_HEADER = APP_KEY_HEADER.encode()
Handler = Callable[[Call], Any]
ROUTES: tuple[tuple[str, str, str, Handler], ...] = (
    *inventory.ROUTES,
    *pricebook.ROUTES,
    *references.ROUTES,
    *accounting.ROUTES,
    *gl_accounts.ROUTES,
    *bills.ROUTES,
    *journal.ROUTES,
    *jpm.ROUTES,
    *settings.ROUTES,
    *pricebook.ROUTES,
)


def served_routes() -> list[tuple[str, str]]:
    """(METHOD, `/{module}/v2/tenant/{tenant}/…` template) of every API route."""
    return [
        (method, f"/{module}/{API_VERSION}/tenant/{{tenant}}/{template}")
        for method, module, template, _ in ROUTES
    ]


@dataclass(frozen=True)
class _Match:
    label: str
    handlers: dict[str, Handler]
    path: dict[str, str]
    tenant: str


class _Router:
    """Matches `/{module}/v2/tenant/{tenant}/{template}` by segments; literal
    segments win over `{placeholders}`."""

    def __init__(self, routes: tuple[tuple[str, str, str, Handler], ...]) -> None:
        by_template: dict[tuple[str, str], dict[str, Handler]] = {}
        for method, module, template, handler in routes:
            by_template.setdefault((module, template), {})[method] = handler
        self._table: dict[tuple[str, int], list[tuple[list[str], str, dict[str, Handler]]]] = {}
        for (module, template), handlers in by_template.items():
            segments = template.split("/")
            self._table.setdefault((module, len(segments)), []).append(
                (segments, f"{module}/{template}", handlers)
            )
        for candidates in self._table.values():
            candidates.sort(key=lambda c: sum(s.startswith("{") for s in c[0]))

    def match(self, path: str) -> _Match | None:
        parts = path.strip("/").split("/")
        if len(parts) < 5 or parts[1] != API_VERSION or parts[2] != "tenant":
            return None
        rest = parts[4:]
        for segments, label, handlers in self._table.get((parts[0], len(rest)), ()):
            params = {}
            for pattern, value in zip(segments, rest, strict=True):
                if pattern.startswith("{"):
                    params[pattern[1:-1]] = value
                elif pattern != value:
                    break
            else:
                return _Match(label, handlers, params, parts[3])
        return None


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(data), status, headers, media_type=JSON)


class ApiApp:
    """The ASGI app behind the middleware: token endpoint and API routes."""

    def __init__(self, sim: SimState) -> None:
        self.sim = sim
        self.router = _Router(ROUTES)

    def _match(self, scope: Scope) -> _Match | None:
        if "st.match" not in scope:
            scope["st.match"] = self.router.match(scope["path"])
        return scope["st.match"]

    def route_of(self, scope: Scope) -> str:
        if scope["path"] == AUTH_PATH:
            return f"{scope['method']} connect/token"
        found = self._match(scope)
        return f"{scope['method']} {found.label if found else '(unknown)'}"

    def limit_key(self, scope: Scope) -> str | None:
        found = self._match(scope)
        if found is None:
            return None
        app_key = next((v for k, v in scope["headers"] if k == _APP_KEY_HEADER), b"").decode()
        if not app_key:
            query = parse_qs(scope["query_string"].decode("latin-1"))
            app_key = (query.get(APP_KEY_QUERY) or [""])[0]
        return f"{app_key}|{found.tenant}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await self._respond(request, scope)
        except ApiError as exc:
            response = _json(exc.body(), exc.status, exc.headers)
        except OAuthError as exc:
            response = _json(exc.body, exc.status)
        await response(scope, receive, send)

    async def _respond(self, request: Request, scope: Scope) -> Response:
        sim = self.sim
        if scope["path"] == AUTH_PATH:
            if request.method != "POST":
                raise ApiError(405, "Method not allowed.", headers={"Allow": "POST"})
            return _json(await token_response(request, sim.config, sim.tokens))
        found = self._match(scope)
        if found is None:
            raise ApiError(404, f"No API at {scope['path']}.")
        handler = found.handlers.get(request.method)
        if handler is None:
            allow = ", ".join(sorted(found.handlers))
            raise ApiError(405, "Method not allowed.", headers={"Allow": allow})
        profile = sim.sandbox.profile if sim.sandbox else FaultProfile()
        authorize(request, found.tenant, sim.config, sim.tokens, profile.revoke_tokens_after_s)
        denied = next((r for r in profile.forbidden_routes if _under(found.label, r)), None)
        if denied is not None:
            raise ApiError(403, f"The application has no scope for {denied}.", {"scope": [denied]})
        body = None
        if request.method in ("POST", "PUT", "PATCH"):
            raw = await request.body()
            try:
                body = json.loads(raw) if raw.strip() else None
            except ValueError:
                raise ApiError(
                    400, "The request body is not valid JSON.", {"body": ["Invalid JSON."]}
                ) from None
        call = Call(
            store=sim.store,
            q=request.query_params,
            body=body,
            path=found.path,
            page_max=sim.config.st_page_size_max,
            closed_periods=tuple(profile.closed_periods),
        )
        result = handler(call)
        if result is NO_CONTENT:
            return Response(status_code=200)
        if isinstance(result, Created):
            return _json(result.body, 201)
        return _json(result)


class _Changing:
    """Bumps the store's `changes` before and after every request that may change data
    (any method but GET and HEAD, the control endpoints' too), so that no list result
    kept for its next pages outlives a change, whichever code made it."""

    def __init__(self, app: Any, sim: SimState) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        changing = scope["type"] == "http" and scope["method"] not in ("GET", "HEAD")
        if changing:
            self.sim.store.changes += 1
        try:
            await self.app(scope, receive, send)
        finally:
            if changing:
                self.sim.store.changes += 1


def _under(label: str, resource: str) -> bool:
    return label == resource or label.startswith(resource.rstrip("/") + "/")


def create_app(
    config: SandboxConfig, profile: FaultProfile, saved: dict[str, Any] | None = None
) -> Starlette:
    """The ServiceTitan simulator, seeded from `config.seed` and `config.scale` as of
    the sandbox's clock, or holding the data `saved` by `snapshot` (its closed periods
    are added to `profile`'s; a reset returns to the seed it grew from)."""
    if saved is None:
        seeded_as_of = config.seeded_as_of()
        store = build(
            config.seed,
            config.scale,
            int(config.st_tenant_id),
            seeded_as_of,
            config.months_of_invoices(),
        )
    else:
        seeded_as_of = datetime.fromisoformat(saved["seededAsOf"])
        store = Store.restore(saved["store"])
        profile.closed_periods = sorted({*profile.closed_periods, *saved["closedPeriods"]})
    sim = SimState(
        config=config,
        seeded_as_of=seeded_as_of,
        store=store,
        tokens=Tokens(config),
        webhooks=Webhooks(config),
        stats=RequestStats(),
    )
    api = ApiApp(sim)
    sim.sandbox = SandboxMiddleware(
        api,
        profile=profile,
        stats=sim.stats,
        limiter=RateLimiter(config.st_rate_per_s),
        error_body=problem_body,
        route_of=api.route_of,
        limit_key=api.limit_key,
    )
    app = Starlette(
        routes=[*control.routes(), Mount("", app=sim.sandbox)],
        middleware=[Middleware(_Changing, sim=sim)],
    )
    app.state.sim = sim
    app.state.sandbox = sim.sandbox
    return app


def snapshot(app: Starlette) -> dict[str, Any]:
    """The simulator's stored data, as `create_app(saved=...)` takes it back once
    encoded and decoded; live objects, to be encoded before the next request."""
    return app.state.sim.snapshot()
