"""The IFS simulator's OData endpoint: projection and entity-service requests.

Resolves `/{tier}/ifsapplications/{projection|entity}/v1/{P}.svc/...`, answers
service documents, `$metadata`, collection queries with server paging, reads by
key, and creates, updates and deletes with If-Match, CSRF and IFS's errors.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from itertools import islice
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from connector_dagster.sandbox.ifs.auth import bearer_token
from connector_dagster.sandbox.ifs.odata import (
    ODataError,
    format_literal,
    json_converter,
    non_negative_int,
    parse_orderby,
    parse_query,
    parse_select,
    sort_rows,
    with_skiptoken,
)
from connector_dagster.sandbox.ifs.odata_filter import parse_filter, parse_key
from connector_dagster.sandbox.ifs.schema import (
    SERVICES,
    SETS,
    EntitySet,
    Row,
    Service,
    etag,
    metadata_xml,
)
from connector_dagster.sandbox.ifs.store import IfsStore

ODATA_PATH = re.compile(
    r"/(main|int|b2b)/ifsapplications/(projection|entity)/v1/([^/]+)\.svc(?:/(.*))?"
)
_SEGMENT = re.compile(r"([A-Za-z_]\w*)(?:\((.*)\))?", re.DOTALL)
_NOT_IMPLEMENTED = ("$expand", "$apply", "$search", "$compute", "$levels")
_KNOWN_OPTIONS = frozenset(
    ("$filter", "$select", "$orderby", "$top", "$skip", "$skiptoken", "$count", "$format")
)


def dumps(body: Any) -> bytes:
    """Compact UTF-8 JSON, as IFS sends it."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class _Target:
    """What an OData URL addresses."""

    tier: str
    service: Service
    root: str  # absolute URL of the service root ({P}.svc)
    url: str  # absolute URL of the request, without the query
    eset: EntitySet | None  # None for the service document, $metadata and $batch
    segment: str  # the first segment after `.svc/`, decoded
    key_text: str | None  # inside `Set(...)`; None for the collection
    suffix: str  # what follows the set or entity segment, e.g. "$count"


def raw_path(scope: Scope) -> str:
    """The request path as sent, still percent-encoded."""
    raw = scope.get("raw_path")
    return raw.decode("latin-1") if raw else scope["path"]


def _resolve(request: Request) -> _Target:
    path = raw_path(request.scope)
    m = ODATA_PATH.fullmatch(path)
    if m is None:
        raise ODataError(404, "ODP_RESOURCE_NOTFOUND", "Resource not found.")
    tier, kind, name, rest = m.group(1), m.group(2), unquote(m.group(3)), m.group(4) or ""
    service = SERVICES.get((kind, name))
    if service is None or tier not in service.tiers:
        raise ODataError(404, "MI_METADATA_NOTFOUND", f"Metadata for projection {name} not found.")
    origin = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
    root = origin + path[: m.end(3)] + ".svc"
    first, _, suffix = rest.partition("/")
    first = unquote(first)
    if first in ("", "$metadata", "$batch"):
        return _Target(tier, service, root, origin + path, None, first, None, suffix)
    seg = _SEGMENT.fullmatch(first)
    eset = next((s for s in service.sets if seg and s.name == seg.group(1)), None)
    if seg is None or eset is None:
        raise ODataError(404, "ODP_RESOURCE_NOTFOUND", "Resource not found.")
    return _Target(tier, service, root, origin + path, eset, first, seg.group(2), unquote(suffix))


def _authenticate(request: Request) -> None:
    """401 unless the bearer token is live (not unknown, expired or revoked)."""
    state = request.app.state
    client = state.tokens.client_of(
        bearer_token(request.headers.get("authorization", "")),
        state.sandbox.profile.revoke_tokens_after_s,
    )
    if client is None:
        raise ODataError(401, None, "Unauthorized")


def _not_implemented(state: Any, what: str) -> ODataError:
    return ODataError(
        state.behaviour.not_implemented_status, "ODP_NOT_IMPLEMENTED", f"{what} is not implemented."
    )


def _format(request: Request) -> tuple[str, bool]:
    accept = request.headers.get("accept", "").lower()
    m = re.search(r"odata\.metadata=(full|minimal|none)", accept)
    return (m.group(1) if m else "minimal"), "ieee754compatible=true" in accept


def _odata_response(
    body: Any, fmt: tuple[str, bool], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    media = f"application/json;odata.metadata={fmt[0]}" + (
        ";IEEE754Compatible=true" if fmt[1] else ""
    )
    return Response(
        dumps(body), status, {"OData-Version": "4.0", **(headers or {})}, media_type=media
    )


@lru_cache(maxsize=512)
def _row_writer(
    service_key: tuple[str, str],
    set_name: str,
    select: tuple[str, ...] | None,
    fmt: tuple[str, bool],
) -> Any:
    """row -> JSON object for one (service, set, $select, format)."""
    eset, service = SETS[set_name], SERVICES[service_key]
    cols = [
        (p.name, eset.index[p.name], json_converter(p, fmt[1]))
        for p in eset.properties
        if select is None or p.name in select
    ]
    objid, objversion = eset.index["Objid"], eset.index["Objversion"]
    type_name = f"#{service.types[set_name].qualified_name}"
    metadata = fmt[0]

    def write(row: Row) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if metadata == "full":
            out["@odata.type"] = type_name
            out["@odata.id"] = _entity_path(eset, eset.key_of(row))
        if metadata != "none":
            out["@odata.etag"] = etag(row[objid], row[objversion])
        for name, i, convert in cols:
            value = row[i]
            out[name] = value if convert is None or value is None else convert(value)
        return out

    return write


def _writer(
    service: Service, eset: EntitySet, select: tuple[str, ...] | None, fmt: tuple[str, bool]
) -> Any:
    return _row_writer((service.kind, service.name), eset.name, select, fmt)


def _entity_path(eset: EntitySet, key: tuple[Any, ...]) -> str:
    """`Set(K1=v1,K2=v2)` with OData literals."""
    inner = ",".join(f"{k}={format_literal(v)}" for k, v in zip(eset.keys, key, strict=True))
    return f"{eset.name}({inner})"


async def odata(request: Request) -> Response:
    """Every projection and entity-service request."""
    _authenticate(request)
    target = _resolve(request)
    method = request.method
    state = request.app.state
    csrf = method != "GET" and target.tier != "int" and state.behaviour.csrf_on_main
    if csrf and not request.headers.get("x-xsrf-token"):
        raise ODataError(
            403, "CSRF_ERROR", "A security error occurred while processing the request."
        )
    if target.eset is None:
        return _service_level(request, target)
    options = parse_query(request.scope["query_string"].decode("latin-1"))
    if target.suffix not in ("", "$count") or (target.suffix and target.key_text is not None):
        raise ODataError(404, "ODP_RESOURCE_NOTFOUND", "Resource not found.")
    if target.key_text is None:
        if method == "GET":
            return _query(request, target, options)
        if method == "POST" and not target.suffix:
            return await _create(request, target)
    elif method == "GET":
        return _read(request, target, options)
    elif method == "PATCH":
        return await _update(request, target)
    elif method == "DELETE":
        return _delete(request, target)
    raise ODataError(405, "ODP_METHOD_NOT_ALLOWED", f"{method} is not allowed here.")


def _service_level(request: Request, target: _Target) -> Response:
    if target.segment == "$batch":
        raise _not_implemented(request.app.state, "$batch")
    if request.method != "GET":
        raise ODataError(405, "ODP_METHOD_NOT_ALLOWED", f"{request.method} is not allowed here.")
    if target.segment == "$metadata":
        return Response(metadata_xml(target.service), media_type="application/xml")
    body = {
        "@odata.context": f"{target.root}/$metadata",
        "value": [
            {"name": s.name, "kind": "EntitySet", "url": s.name} for s in target.service.sets
        ],
    }
    return _odata_response(body, ("minimal", False))


def _query(request: Request, target: _Target, options: dict[str, str]) -> Response:
    state = request.app.state
    eset = target.eset
    assert eset is not None
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
    rows: Any = table.rows.values()
    if flt is not None:
        rows = filter(flt.predicate, table.candidates(flt.equalities))
    if target.suffix == "$count":
        return Response(str(sum(1 for _ in rows)), media_type="text/plain")
    start = skip + token
    limit = (
        state.behaviour.page_size if top is None else min(state.behaviour.page_size, top - token)
    )
    limit = max(limit, 0)
    total = None
    if order or counting:
        rows = list(rows)
        total = len(rows)
        if order:
            sort_rows(rows, order)
        page = rows[start : start + limit + 1]
    else:
        page = list(islice(rows, start, start + limit + 1))
    more = len(page) > limit and (top is None or token + limit < top)
    page = page[:limit]

    fmt = _format(request)
    writer = _writer(target.service, eset, select, fmt)
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
    return _odata_response(body, fmt)


def _entity_response(
    request: Request, target: _Target, row: Row, status: int = 200, select: Any = None
) -> Response:
    eset = target.eset
    assert eset is not None
    fmt = _format(request)
    body = (
        {"@odata.context": f"{target.root}/$metadata#{eset.name}/$entity"}
        if fmt[0] != "none"
        else {}
    )
    body.update(_writer(target.service, eset, select, fmt)(row))
    tag = request.app.state.store.etag(eset, row)
    headers = {"ETag": tag}
    if status == 201:
        headers["Location"] = f"{target.root}/{_entity_path(eset, eset.key_of(row))}"
    return _odata_response(body, fmt, status, headers)


def _key(target: _Target) -> tuple[Any, ...]:
    assert target.eset is not None and target.key_text is not None
    return parse_key(target.key_text, target.service.types[target.eset.name])


def _read(request: Request, target: _Target, options: dict[str, str]) -> Response:
    assert target.eset is not None
    if "$expand" in options:
        raise _not_implemented(request.app.state, "$expand")
    etype = target.service.types[target.eset.name]
    select = parse_select(options["$select"], etype) if "$select" in options else None
    row = request.app.state.store.get(target.eset, _key(target))
    if row is None:
        raise ODataError(404, "ODP_RESOURCE_NOTFOUND", "Resource not found.")
    return _entity_response(request, target, row, select=select)


async def _json_body(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type != "application/json":
            raise ValueError(f"Content-Type '{content_type}' is not application/json")
        body = json.loads(await request.body(), parse_float=Decimal)
        if not isinstance(body, dict):
            raise ValueError("the body is not a JSON object")
    except ValueError as exc:
        raise ODataError(
            400,
            "ODP_DESERIALIZATION_ERROR",
            "Error while de-serializing contents.",
            [{"code": "ODP_DESERIALIZATION_ERROR", "message": str(exc)}],
        ) from None
    return body


def _closed_periods(request: Request) -> list[str]:
    return request.app.state.sandbox.profile.closed_periods


async def _create(request: Request, target: _Target) -> Response:
    assert target.eset is not None
    body = await _json_body(request)
    row = request.app.state.store.create(target.eset, body, _closed_periods(request))
    return _entity_response(request, target, row, 201)


def _concurrent_edit(request: Request, eset: EntitySet, key: tuple[Any, ...]) -> Row | None:
    """Fetch the row; with the profile's rate_stale_etag, an IFS user edits it first."""
    state = request.app.state
    store: IfsStore = state.store
    row = store.get(eset, key)
    profile = state.sandbox.profile
    if row is None or profile.rate_stale_etag <= 0:
        return row
    seeded_for, dice = state.stale_etag_dice
    if seeded_for is not profile:
        dice = random.Random(profile.seed)
        state.stale_etag_dice = (profile, dice)
    return store.touch(eset, key) if dice.random() < profile.rate_stale_etag else row


def _precondition(request: Request, eset: EntitySet, row: Row | None) -> bool:
    """Check If-Match; False when it is missing and the missing-If-Match mode allows that."""
    if_match = request.headers.get("if-match")
    if if_match is None:
        if request.app.state.behaviour.missing_if_match == "428":
            raise ODataError(
                428, "ODP_MISSING_PRECONDITION", "The request must contain an If-Match header."
            )
        return False
    if row is None:
        raise ODataError(404, "ODP_RESOURCE_NOTFOUND", "Resource not found.")
    current = request.app.state.store.etag(eset, row)
    given = [t.strip() for t in if_match.split(",")]
    if "*" not in given and current not in given and current[2:] not in given:
        raise ODataError(
            412,
            "ODP_PRECONDITION_FAILED",
            "The entity has been modified by another user. Refresh and try again.",
            [
                {
                    "code": "MODIFIED",
                    "message": f"The {eset.luname} has been modified by another user.",
                }
            ],
        )
    return True


async def _update(request: Request, target: _Target) -> Response:
    eset = target.eset
    assert eset is not None
    key = _key(target)
    body = await _json_body(request)
    store: IfsStore = request.app.state.store
    row = _concurrent_edit(request, eset, key)
    if not _precondition(request, eset, row) and row is None:
        keyed = {k: v for k, v in body.items() if k not in eset.keys}
        keyed.update(zip(eset.keys, key, strict=True))
        created = store.create(eset, keyed, _closed_periods(request))
        return _entity_response(request, target, created, 201)
    row = store.update(eset, key, body, _closed_periods(request))
    prefer = request.headers.get("prefer", "")
    if request.app.state.behaviour.patch_returns_entity or "return=representation" in prefer:
        return _entity_response(request, target, row)
    return Response(
        status_code=204, headers={"ETag": store.etag(eset, row), "OData-Version": "4.0"}
    )


def _delete(request: Request, target: _Target) -> Response:
    eset = target.eset
    assert eset is not None
    key = _key(target)
    row = _concurrent_edit(request, eset, key)
    _precondition(request, eset, row)
    request.app.state.store.delete(eset, key)
    return Response(status_code=204, headers={"OData-Version": "4.0"})
