"""Finance's page (Starlette, server-rendered HTML, no script): `/` the grid of periods x
flows, `/failed` the queue of failed records with retry, resolve and ignore, `/trace`
where a record is, `/reconcile` one flow's period; `?format=csv` on every list.
Everything rendered is escaped (Jinja2 autoescape): keys and messages come from outside."""

from __future__ import annotations

import csv
import io
import json
import secrets
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from jinja2 import Environment, FileSystemLoader
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from connector_dagster.finance import actions, queries
from connector_dagster.finance.access import HEADERS, Access
from connector_dagster.lib.settings import ConfigError
from connector_dagster.lib.store import REASONS, Store

FORM_LIMIT = 64 * 1024
MESSAGES_KEPT = 200
TEMPLATES = Path(__file__).parent / "templates"


def _money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:,.2f}"


def _when(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str, sort_keys=True)


def _csv_cell(value: Any) -> Any:
    """A cell a spreadsheet shows as text, never runs as a formula."""
    if isinstance(value, datetime):
        return _when(value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_response(rows: list[dict[str, Any]], name: str) -> Response:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: _csv_cell(v) for k, v in row.items()} for row in rows)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


class Messages:
    """One-line outcomes of the last actions, shown once after the redirect."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, kind: str, text: str) -> str:
        key = secrets.token_urlsafe(8)
        with self._lock:
            self._items[key] = (kind, text)
            while len(self._items) > MESSAGES_KEPT:
                self._items.popitem(last=False)
        return key

    def take(self, key: str | None) -> tuple[str, str] | None:
        with self._lock:
            return self._items.pop(key, None) if key else None


def create_app(
    store: Store,
    connections: list[str],
    access: Access,
    dagster_url: str | None = None,
) -> Starlette:
    """The page for `connections` (the first is the default), protected by `access`."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)
    env.filters.update(money=_money, when=_when, pretty=_pretty)
    messages = Messages()
    totals = queries.Totals()

    def render(request: Request, template: str, **context: Any) -> Response:
        html = env.get_template(template).render(
            connections=connections,
            csrf=access.csrf,
            dagster_url=dagster_url,
            message=messages.take(request.query_params.get("msg")),
            reasons=REASONS,
            user=request.scope.get("finance_user") or "",
            **context,
        )
        return Response(html, media_type="text/html; charset=utf-8")

    def connection_of(value: str | None) -> str:
        if value in (None, ""):
            return connections[0]
        if value not in connections:
            raise ConfigError(f"unknown connection {value!r}; one of {', '.join(connections)}")
        return value

    def back(path: str, params: dict[str, str], kind: str, text: str) -> Response:
        query = {k: v for k, v in params.items() if v}
        query["msg"] = messages.add(kind, text)
        return RedirectResponse(f"{path}?{urlencode(query)}", status_code=303)

    def grid(request: Request) -> Response:
        connection = connection_of(request.query_params.get("connection"))
        data = queries.grid(store, connection, totals)
        if request.query_params.get("format") == "csv":
            return csv_response(data.rows(), f"{connection}-periods")
        return render(request, "grid.html", connection=connection, grid=data)

    def failed(request: Request) -> Response:
        q = request.query_params
        connection = connection_of(q.get("connection"))
        flows = queries.flows_of(connection)
        reason = q.get("reason") if q.get("reason") in REASONS else None
        flow = q.get("flow") if q.get("flow") in {f.name for f in flows} else None
        period = q.get("period") or None
        view = "set_aside" if q.get("view") == "set_aside" else "open"
        rows, total = queries.queue(store, connection, reason=reason, flow=flow, period=period,
                                    set_aside=view == "set_aside")  # fmt: skip
        if q.get("format") == "csv":
            return csv_response([r.as_row() for r in rows], f"{connection}-failed-{view}")
        filters = {"connection": connection, "reason": reason or "", "flow": flow or "",
                   "period": period or "", "view": view}  # fmt: skip
        return render(request, "failed.html", connection=connection, rows=rows, total=total,
                      flows=flows, filters=filters, limit=queries.QUEUE_LIMIT)  # fmt: skip

    async def failed_action(request: Request) -> Response:
        form = await _form(request)
        connection = connection_of(form.get("connection"))
        filters = {k: form.get(k, "") for k in ("reason", "flow", "period", "view")}
        filters["connection"] = connection
        ids = [int(i) for i in form.getlist("id") if i.isdigit()]
        action = form.get("action")
        try:
            if not ids:
                raise ConfigError("tick at least one failed record first")
            records = store.failed(connection=connection, ids=ids)
            if not records:
                raise ConfigError("the records ticked are no longer open; the list is refreshed")
            if action == "retry":
                line = await _in_thread(actions.retry, connection, records)
            elif action in ("resolve", "ignore"):
                line = await _in_thread(
                    actions.set_aside, store, connection, [r.id for r in records],
                    {"resolve": "resolved", "ignore": "ignored"}[action],
                    form.get("note", ""), form.get("by", ""),
                )  # fmt: skip
            else:
                raise ConfigError(f"unknown action {action!r}")
        except ConfigError as exc:
            return back("/failed", filters, "error", str(exc))
        return back("/failed", filters, "ok", line)

    def trace(request: Request) -> Response:
        connection = connection_of(request.query_params.get("connection"))
        key = (request.query_params.get("key") or "").strip()
        found = queries.trace(store, connection, key) if key else None
        if found is not None and request.query_params.get("format") == "csv":
            return csv_response(found.rows(), f"{connection}-trace")
        return render(request, "trace.html", connection=connection, key=key, trace=found)

    async def reconcile(request: Request) -> Response:
        form = await _form(request)
        connection = connection_of(form.get("connection"))
        flow, period = form.get("flow", ""), form.get("period", "")
        params = {"connection": connection}
        if flow not in {f.name for f in queries.flows_of(connection)} or not _is_period(period):
            return back("/", params, "error", "reconcile: unknown flow or period")
        try:
            line = await _in_thread(actions.reconcile, connection, flow, period)
        except Exception as exc:  # an API or network failure: shown in one line
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            return back("/", params, "error", f"reconcile {flow} {period[:7]}: {first}")
        return back("/", params, "ok", line)

    def stylesheet(request: Request) -> Response:
        return Response((TEMPLATES / "page.css").read_text(), media_type="text/css")

    async def _form(request: Request) -> _Form:
        body = await request.body()
        if len(body) > FORM_LIMIT:
            raise ConfigError("the form is too large")
        form = _Form(parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True))
        if not access.csrf_ok(form.get("csrf")):
            raise _Forbidden
        return form

    app = Starlette(
        routes=[
            Route("/", grid),
            Route("/failed", failed),
            Route("/failed", failed_action, methods=["POST"]),
            Route("/trace", trace),
            Route("/reconcile", reconcile, methods=["POST"]),
            Route("/page.css", stylesheet),
        ],
        exception_handlers={ConfigError: _bad_request, _Forbidden: _forbidden},  # type: ignore[dict-item]
    )
    app.add_middleware(_Guard, access=access)  # type: ignore[arg-type]
    return app


class _Form(dict[str, list[str]]):
    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        values = super().get(key)
        return values[0] if values else default

    def getlist(self, key: str) -> list[str]:
        return list(super().get(key) or [])


class _Forbidden(Exception):
    """A form without the page's CSRF token."""


def _is_period(text: str) -> bool:
    try:
        return datetime.strptime(text, "%Y-%m-%d").day == 1
    except ValueError:
        return False


async def _in_thread(fn: Callable[..., str], *args: Any) -> str:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)


async def _bad_request(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(str(exc), status_code=400)


async def _forbidden(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(
        "this form is not from this page (reload the page and try again)", status_code=403
    )


class _Guard:
    """Host check and login before every route; security headers on every answer."""

    def __init__(self, app: Callable[..., Awaitable[None]], access: Access) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        response: Response | None = None
        if not self.access.host_allowed(headers.get("host", "")):
            response = PlainTextResponse("unknown host name", status_code=400)
        else:
            user = self.access.user(headers.get("authorization"))
            if user is None:
                response = PlainTextResponse(
                    "login required", status_code=401,
                    headers={"WWW-Authenticate": 'Basic realm="finance", charset="UTF-8"'},
                )  # fmt: skip
            scope["finance_user"] = user

        async def send_secured(message: dict) -> None:
            if message["type"] == "http.response.start":
                extra = [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        if response is None:
            await self.app(scope, receive, send_secured)
        else:
            await response(scope, receive, send_secured)
