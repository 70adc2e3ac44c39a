"""Plumbing of the ServiceTitan simulator's `/_sandbox/` control endpoints: the
simulator's state, JSON answers and bodies, and errors answered in the API's
`ApiErrorResponse` shape."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from connector_dagster.sandbox.servicetitan.common import ApiError, dumps
from connector_dagster.sandbox.servicetitan.state import SimState

Endpoint = Callable[[Request], Awaitable[Response]]


def sim_of(request: Request) -> SimState:
    return request.app.state.sim


def ok(data: Any, status: int = 200) -> Response:
    return Response(dumps(data), status, media_type="application/json")


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object (`{}` when empty); a 400 for anything else."""
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise ApiError(400, "The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "A JSON object is required.")
    return data


def guarded(endpoint: Endpoint) -> Endpoint:
    """`endpoint` with its `ApiError`s answered as RFC 7807 bodies."""

    async def run(request: Request) -> Response:
        try:
            return await endpoint(request)
        except ApiError as exc:
            return Response(dumps(exc.body()), exc.status, media_type="application/json")

    return run
