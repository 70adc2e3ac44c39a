"""The IFS simulator's OData endpoint: projection and entity-service requests.

Resolves `/{tier}/ifsapplications/{projection|entity}/v1/{P}.svc/...`, answers
service documents, `$metadata` and `$batch` (`batch`), collection queries with
server paging, reads by key and through a parent's navigation property, and
hands writes and bound actions to `writes`, after the token and CSRF checks.
"""

from __future__ import annotations

import re
from itertools import islice
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from connector_dagster.sandbox.ifs import batch, writes
from connector_dagster.sandbox.ifs.auth import bearer_token
from connector_dagster.sandbox.ifs.metadata import metadata_xml
from connector_dagster.sandbox.ifs.odata import (
    ODataError,
    non_negative_int,
    parse_orderby,
    parse_query,
    parse_select,
    sort_rows,
    with_skiptoken,
)
from connector_dagster.sandbox.ifs.odata_filter import parse_filter
from connector_dagster.sandbox.ifs.responses import (
    Target,
    entity_response,
    negotiated,
    odata_response,
    row_writer,
)
from connector_dagster.sandbox.ifs.schema import EntitySet

ODATA_PATH = re.compile(
    r"/(main|int|b2b)/ifsapplications/(projection|entity)/v1/([^/]+)\.svc(?:/(.*))?"
)
_SEGMENT = re.compile(r"([A-Za-z_]\w*)(?:\((.*)\))?", re.DOTALL)
_NOT_IMPLEMENTED = ("$expand", "$apply", "$search", "$compute", "$levels")
_KNOWN_OPTIONS = frozenset(
    ("$filter", "$select", "$orderby", "$top", "$skip", "$skiptoken", "$count", "$format")
)


def raw_path(scope: Scope) -> str:
    """The request path as sent, still percent-encoded."""
    raw = scope.get("raw_path")
    return raw.decode("latin-1") if raw else scope["path"]


def _resolve(request: Request) -> Target:
    path = raw_path(request.scope)
    m = ODATA_PATH.fullmatch(path)
    if m is None:
        raise ODataError(404, "ODP_RESOURCE_NOTFOUND", "Resource not found.")
    tier, kind, name, rest = m.group(1), m.group(2), unquote(m.group(3)), m.group(4) or ""
    found = request.app.state.behaviour.names.service(kind, name)
    if found is None or tier not in found[0].tiers:
        raise ODataError(404, "MI_METADATA_NOTFOUND", f"Metadata for projection {name} not found.")
    service, set_names = found
    origin = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
    root = origin + path[: m.end(3)] + ".svc"
    first, _, suffix = rest.partition("/")
    first = unquote(first)
    if first in ("", "$metadata", "$batch"):
        return Target(tier, service, root, origin + path, None, first, None, suffix)
    seg = _SEGMENT.fullmatch(first)
    own = set_names.get(seg.group(1)) if seg else None
    eset = next((s for s in service.sets if s.name == own), None)
    if seg is None or eset is None:
        raise ODataError(404, "ODP_RESOURCE_NOTFOUND", "Resource not found.")
    return Target(tier, service, root, origin + path, eset, first, seg.group(2), unquote(suffix))


def _authenticate(request: Request) -> str:
    """The client of a live bearer token; 401 if it is unknown, expired or revoked."""
    state = request.app.state
    client = state.tokens.client_of(
        bearer_token(request.headers.get("authorization", "")),
        state.sandbox.profile.revoke_tokens_after_s,
    )
    if client is None:
        raise ODataError(401, None, "Unauthorized")
    return client


def _not_implemented(state: Any, what: str) -> ODataError:
    return ODataError(
        state.behaviour.not_implemented_status, "ODP_NOT_IMPLEMENTED", f"{what} is not implemented."
    )


def _not_found() -> ODataError:
    return ODataError(404, "ODP_RESOURCE_NOTFOUND", "Resource not found.")


async def odata(request: Request) -> Response:
    """Every projection and entity-service request."""
    user = _authenticate(request)
    limit = request.app.state.behaviour.max_url_length
    if len(raw_path(request.scope)) + 1 + len(request.scope["query_string"]) > limit:
        raise ODataError(414, "URI_TOO_LONG", f"The request URL is longer than {limit} characters.")
    target = _resolve(request)
    if not request.scope.get(batch.IN_BATCH) and target.segment != "$batch":
        batch.take_operations(request, user, 1)
    method = request.method
    state = request.app.state
    csrf = method != "GET" and target.tier != "int" and state.behaviour.csrf_on_main
    if csrf and not request.headers.get("x-xsrf-token"):
        raise ODataError(
            403, "CSRF_ERROR", "A security error occurred while processing the request."
        )
    if target.eset is None:
        return await _service_level(request, target, user)
    options = parse_query(request.scope["query_string"].decode("latin-1"))
    if target.key_text is None:
        if target.suffix not in ("", "$count"):
            raise _not_found()
        if method == "GET":
            return _query(request, target, target.eset, options)
        if method == "POST" and not target.suffix:
            return await writes.create(request, target, target.eset, user)
    elif not target.suffix:
        if method == "GET":
            return _read(request, target, options)
        if method == "PATCH":
            return await writes.update(request, target, user)
        if method == "DELETE":
            return writes.delete(request, target, user)
    else:
        return await _bound(request, target, options, user)
    raise ODataError(405, "ODP_METHOD_NOT_ALLOWED", f"{method} is not allowed here.")


async def _bound(request: Request, target: Target, options: dict[str, str], user: str) -> Response:
    """`Set(key)/{navigation}` (GET its rows, POST a new one) or `Set(key)/{action}` (POST)."""
    assert target.eset is not None
    child = target.service.child(target.eset, target.suffix)
    action = target.service.action(target.eset, target.suffix)
    if child is None and action is None:
        raise _not_found()
    if action is not None:
        if request.method != "POST":
            raise ODataError(405, "ODP_METHOD_NOT_ALLOWED", "Actions are invoked with POST.")
        return await writes.action(request, target, action, user)
    assert child is not None
    key = writes.key_of(target)
    if request.app.state.store.get(target.eset, key) is None:
        raise _not_found()
    parent_key = dict(zip(target.eset.keys, key, strict=True))
    if request.method == "GET":
        return _query(request, target, child, options, parent_key)
    if request.method == "POST":
        return await writes.create(request, target, child, user, key)
    raise ODataError(405, "ODP_METHOD_NOT_ALLOWED", f"{request.method} is not allowed here.")


async def _service_level(request: Request, target: Target, user: str) -> Response:
    if target.segment == "$batch":
        if request.method != "POST":
            raise ODataError(405, "ODP_METHOD_NOT_ALLOWED", "$batch is sent with POST.")
        return await batch.run(request, target, odata, user)
    if request.method != "GET":
        raise ODataError(405, "ODP_METHOD_NOT_ALLOWED", f"{request.method} is not allowed here.")
    found = request.app.state.behaviour.names.service(target.service.kind, target.service.name)
    served = {own: public for public, own in found[1].items()} if found else {}
    if target.segment == "$metadata":
        return Response(metadata_xml(target.service, served), media_type="application/xml")
    body = {
        "@odata.context": f"{target.root}/$metadata",
        "value": [{"name": n, "kind": "EntitySet", "url": n} for n in served.values()],
    }
    return odata_response(body, ("minimal", False))


def _query(
    request: Request,
    target: Target,
    eset: EntitySet,
    options: dict[str, str],
    fixed: dict[str, Any] | None = None,
) -> Response:
    """The rows of `eset` the options ask for (with `fixed`: only those equal to it)."""
    state = request.app.state
    etype = target.service.types[eset.name]
    for name in options:
        if name in _NOT_IMPLEMENTED:
            raise _not_implemented(state, name)
        if name.startswith("$") and name not in _KNOWN_OPTIONS:
            raise ODataError(
                400, "ODP_UNSUPPORTED_URL", f"The system query option '{name}' is not supported."
            )
    counting = options.get("$count") == "true" or target.suffix == "$count"
    if counting and not state.behaviour.count_supported:
        raise _not_implemented(state, "$count")
    flt = parse_filter(options["$filter"], etype) if "$filter" in options else None
    order = parse_orderby(options["$orderby"], etype) if "$orderby" in options else None
    select = parse_select(options["$select"], etype) if "$select" in options else None
    top = non_negative_int(options["$top"]) if "$top" in options else None
    skip = non_negative_int(options["$skip"]) if "$skip" in options else 0
    token = non_negative_int(options["$skiptoken"]) if "$skiptoken" in options else 0

    table = state.store.tables[eset.name]
    query = (options.get("$filter"), options.get("$orderby"), tuple(sorted((fixed or {}).items())))
    kept = table.kept(query) if order or counting else None
    rows: Any = table.rows.values() if kept is None else kept
    if kept is None and (flt is not None or fixed):
        wanted = [(eset.index[k], v) for k, v in (fixed or {}).items()]
        rows = table.candidates(
            {**(flt.equalities if flt else {}), **(fixed or {})},
            flt.any_of if flt else None,
            flt.ranges if flt else None,
        )
        rows = (r for r in rows if all(r[i] == v for i, v in wanted))
        if flt is not None:
            rows = filter(flt.predicate, rows)
    if target.suffix == "$count":
        return Response(str(sum(1 for _ in rows)), media_type="text/plain")
    start = skip + token
    limit = (
        state.behaviour.page_size if top is None else min(state.behaviour.page_size, top - token)
    )
    limit = max(limit, 0)
    total = None
    if order or counting:
        if kept is None:
            rows = list(rows)
            if order:
                sort_rows(rows, order)
            table.keep(query, rows)
        total = len(rows)
        page = rows[start : start + limit + 1]
    else:
        page = list(islice(rows, start, start + limit + 1))
    more = len(page) > limit and (top is None or token + limit < top)
    page = page[:limit]

    fmt = negotiated(request)
    writer = row_writer(target.service, eset, select, fmt)
    body: dict[str, Any] = {}
    if fmt[0] != "none":
        columns = f"({','.join(select)})" if select else ""
        body["@odata.context"] = f"{target.root}/$metadata#{eset.name}{columns}"
    if total is not None and options.get("$count") == "true":
        body["@odata.count"] = total
    body["value"] = [writer(r) for r in page]
    if more:
        query = request.scope["query_string"].decode("latin-1")
        body["@odata.nextLink"] = with_skiptoken(target.url, query, token + limit)
    return odata_response(body, fmt)


def _read(request: Request, target: Target, options: dict[str, str]) -> Response:
    assert target.eset is not None
    if "$expand" in options:
        raise _not_implemented(request.app.state, "$expand")
    etype = target.service.types[target.eset.name]
    select = parse_select(options["$select"], etype) if "$select" in options else None
    row = request.app.state.store.get(target.eset, writes.key_of(target))
    if row is None:
        raise _not_found()
    return entity_response(request, target, target.eset, row, select=select)
