"""Control endpoints of the IFS simulator under `/_sandbox/` (never faulted or limited).

GET  /_sandbox/state               counts per entity set, seed, scale, clock, live tokens
GET  /_sandbox/requests            request counts by method, route and status
DELETE /_sandbox/requests          reset those counts
GET|PUT /_sandbox/faults           the FaultProfile (JSON)
GET|PUT /_sandbox/behaviour        the IfsBehaviour switches (JSON, partial on PUT)
POST /_sandbox/reset               back to the seeded data; tokens and counts cleared
POST /_sandbox/edit                {"set", "key", "changes"}: an edit by an IFS user (of
                                   master data too: `{"Objstate": "Blocked"}` blocks an
                                   account or supplier)
POST /_sandbox/create              {"set", "values"}: a record an IFS user enters
POST /_sandbox/delete              {"set", "key"}: a record an IFS user removes (with its rows)
GET  /_sandbox/entities/{set}      stored rows, optionally filtered by ?Field=value
GET  /_sandbox/periods             the accounting periods closed per company
POST /_sandbox/periods/{company}/{YYYY-MM}/close|reopen   close or reopen one period

An IFS user may set what the API may not (Objstate, ChangeDate) and is not held
to the API's rules (closed periods, accounts, locked orders); every such change
gets its History Log row and a new Objversion, like one made in IFS.
"""

from __future__ import annotations

import dataclasses
import json
import re
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connector_dagster.sandbox.faults import FaultProfile, RateLimiter
from connector_dagster.sandbox.ifs.odata import ODataError, from_json, json_converter
from connector_dagster.sandbox.ifs.rules import Writer
from connector_dagster.sandbox.ifs.schema import (
    ACCOUNTS,
    SETS,
    SUPPLIERS,
    TAX_CODES,
    EntitySet,
    Row,
)
from connector_dagster.sandbox.ifs.store import IfsStore

_PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_AS_USER = Writer(as_user=True)
_USERS_EDIT = frozenset({ACCOUNTS.name, SUPPLIERS.name, TAX_CODES.name})
"""Read-only sets whose rows an IFS user edits (blocks) all the same."""


def raw_row(store: IfsStore, eset: EntitySet, row: Row) -> dict[str, Any]:
    """A stored row as JSON (numbers as numbers), with its ETag."""
    out: dict[str, Any] = {"@odata.etag": store.etag(eset, row)}
    for prop, value in zip(eset.properties, row, strict=True):
        convert = json_converter(prop, ieee754=False)
        out[prop.name] = value if convert is None or value is None else convert(value)
    return out


def _problem(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status)


async def _json(request: Request, decimals: bool = False) -> Any:
    """The JSON body; with `decimals`, fractions are read as Decimal (entity values)."""
    return json.loads(await request.body(), parse_float=Decimal if decimals else float)


async def state(request: Request) -> Response:
    app_state = request.app.state
    return JSONResponse(
        {
            "seed": app_state.config.seed,
            "scale": app_state.config.scale,
            "seededAsOf": app_state.seeded_as_of.isoformat(),
            "counts": app_state.store.counts(),
            "tokens": len(app_state.tokens),
        }
    )


async def requests_(request: Request) -> Response:
    stats = request.app.state.sandbox.stats
    if request.method == "DELETE":
        stats.reset()
        return Response(status_code=204)
    return JSONResponse(stats.snapshot())


async def faults(request: Request) -> Response:
    sandbox = request.app.state.sandbox
    if request.method == "PUT":
        try:
            sandbox.set_profile(FaultProfile.from_dict(await _json(request)))
        except (ValueError, TypeError) as exc:
            return _problem(400, str(exc))
    return JSONResponse(sandbox.profile.to_dict())


async def behaviour(request: Request) -> Response:
    app_state = request.app.state
    if request.method == "PUT":
        try:
            app_state.behaviour = dataclasses.replace(app_state.behaviour, **await _json(request))
        except (ValueError, TypeError) as exc:
            return _problem(400, str(exc))
    return JSONResponse(dataclasses.asdict(app_state.behaviour))


async def reset(request: Request) -> Response:
    app_state = request.app.state
    app_state.store.reset()
    app_state.tokens.clear()
    sandbox = app_state.sandbox
    sandbox.stats.reset()
    sandbox.limiter = RateLimiter(sandbox.limiter.per_second, sandbox.limiter.burst)
    return JSONResponse({"counts": app_state.store.counts()})


def _key(eset: EntitySet, raw: Any) -> tuple[Any, ...]:
    if not isinstance(raw, dict) or set(raw) != set(eset.keys):
        raise ValueError(f"the key of {eset.name} is {', '.join(eset.keys)}")
    return tuple(from_json(eset.properties[eset.index[k]], raw[k]) for k in eset.keys)


def _writable(name: Any, users_edit: bool = False) -> EntitySet:
    """The set `name` if a user may write it (`users_edit`: master data a user may
    change in IFS, such as blocking an account, though the API may not)."""
    eset = SETS[name]
    if eset.read_only and not (users_edit and eset.name in _USERS_EDIT):
        raise ValueError(f"{eset.name} is written by IFS itself")
    return eset


async def edit(request: Request) -> Response:
    store: IfsStore = request.app.state.store
    try:
        body = await _json(request, decimals=True)
        eset = _writable(body["set"], users_edit=True)
        key = _key(eset, body["key"])
        changes = body.get("changes") or {}
        if not isinstance(changes, dict):
            raise ValueError("changes must be an object of field values")
    except (ValueError, KeyError, TypeError) as exc:
        return _problem(400, f"expected {{set, key, changes}}: {exc}")
    if store.get(eset, key) is None:
        return _problem(404, f"no {eset.name} row with key {body['key']}")
    try:
        row = store.update(eset, key, changes, _AS_USER) if changes else store.touch(eset, key)
    except ODataError as exc:
        return JSONResponse(exc.body(), exc.status)
    return JSONResponse(raw_row(store, eset, row))


async def create(request: Request) -> Response:
    store: IfsStore = request.app.state.store
    try:
        body = await _json(request, decimals=True)
        eset = _writable(body["set"])
        values = body["values"]
        if not isinstance(values, dict):
            raise ValueError("values must be an object of field values")
    except (ValueError, KeyError, TypeError) as exc:
        return _problem(400, f"expected {{set, values}}: {exc}")
    try:
        row = store.create(eset, values, _AS_USER)
    except ODataError as exc:
        return JSONResponse(exc.body(), exc.status)
    return JSONResponse(raw_row(store, eset, row), 201)


async def delete(request: Request) -> Response:
    store: IfsStore = request.app.state.store
    try:
        body = await _json(request, decimals=True)
        eset = _writable(body["set"])
        key = _key(eset, body["key"])
    except (ValueError, KeyError, TypeError) as exc:
        return _problem(400, f"expected {{set, key}}: {exc}")
    if store.get(eset, key) is None:
        return _problem(404, f"no {eset.name} row with key {body['key']}")
    store.delete(eset, key, _AS_USER)
    return Response(status_code=204)


async def periods(request: Request) -> Response:
    store: IfsStore = request.app.state.store
    closed = [{"company": c, "period": p} for c, p in sorted(store.closed_periods)]
    return JSONResponse({"closed": closed})


def _period_of(request: Request) -> tuple[str, str]:
    period = request.path_params["period"]
    if not _PERIOD.fullmatch(period):
        raise ValueError(f"period {period!r} is not YYYY-MM, e.g. 2026-10")
    return request.path_params["company"], period


async def close_period(request: Request) -> Response:
    try:
        request.app.state.store.closed_periods.add(_period_of(request))
    except ValueError as exc:
        return _problem(400, str(exc))
    return await periods(request)


async def reopen_period(request: Request) -> Response:
    try:
        request.app.state.store.closed_periods.discard(_period_of(request))
    except ValueError as exc:
        return _problem(400, str(exc))
    return await periods(request)


async def entities(request: Request) -> Response:
    eset = SETS.get(request.path_params["set"])
    if eset is None:
        return _problem(404, f"unknown entity set; known: {', '.join(SETS)}")
    store: IfsStore = request.app.state.store
    wanted = [(eset.index[k], v) for k, v in request.query_params.items() if k in eset.index]
    rows = [
        raw_row(store, eset, row)
        for row in store.tables[eset.name].rows.values()
        if all(_as_text(row[i]) == v for i, v in wanted)
    ]
    return JSONResponse({"value": rows})


def _as_text(value: Any) -> str | None:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return None if value is None else str(value)


def routes() -> list[Route]:
    return [
        Route("/_sandbox/state", state, methods=["GET"]),
        Route("/_sandbox/requests", requests_, methods=["GET", "DELETE"]),
        Route("/_sandbox/faults", faults, methods=["GET", "PUT"]),
        Route("/_sandbox/behaviour", behaviour, methods=["GET", "PUT"]),
        Route("/_sandbox/reset", reset, methods=["POST"]),
        Route("/_sandbox/edit", edit, methods=["POST"]),
        Route("/_sandbox/create", create, methods=["POST"]),
        Route("/_sandbox/delete", delete, methods=["POST"]),
        Route("/_sandbox/periods", periods, methods=["GET"]),
        Route("/_sandbox/periods/{company}/{period}/close", close_period, methods=["POST"]),
        Route("/_sandbox/periods/{company}/{period}/reopen", reopen_period, methods=["POST"]),
        Route("/_sandbox/entities/{set}", entities, methods=["GET"]),
    ]
