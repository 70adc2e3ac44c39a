"""What the IFS simulator's OData endpoint answers with: the addressed target, JSON
bodies in the negotiated format (metadata level, IEEE754Compatible), entities with
their ETag and Location, and IFS's error bodies."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from connector_dagster.sandbox.ifs.odata import ODataError, format_literal, json_converter
from connector_dagster.sandbox.ifs.schema import SETS, EntitySet, Row, Service, etag

_PATH_SAFE = "()',=-._~!*$&+;:@"
"""Left as they are in a Location; spaces, slashes, `?`, `#`, `%` and non-ASCII are encoded."""

Format = tuple[str, bool]
"""(odata.metadata level, IEEE754Compatible)."""


def dumps(body: Any) -> bytes:
    """Compact UTF-8 JSON, as IFS sends it."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Target:
    """What an OData URL addresses."""

    tier: str
    service: Service
    root: str  # absolute URL of the service root ({P}.svc)
    url: str  # absolute URL of the request, without the query
    eset: EntitySet | None  # None for the service document, $metadata and $batch
    segment: str  # the first segment after `.svc/`, decoded
    key_text: str | None  # inside `Set(...)`; None for the collection
    suffix: str  # what follows the set or entity segment: "$count", a navigation, an action


def error_response(exc: ODataError) -> Response:
    headers = {**({"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}), **exc.headers}
    return Response(dumps(exc.body()), exc.status, headers, media_type="application/json")


def negotiated(request: Request) -> Format:
    accept = request.headers.get("accept", "").lower()
    m = re.search(r"odata\.metadata=(full|minimal|none)", accept)
    return (m.group(1) if m else "minimal"), "ieee754compatible=true" in accept


def odata_response(
    body: Any, fmt: Format, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    media = f"application/json;odata.metadata={fmt[0]}" + (
        ";IEEE754Compatible=true" if fmt[1] else ""
    )
    return Response(
        dumps(body), status, {"OData-Version": "4.0", **(headers or {})}, media_type=media
    )


@lru_cache(maxsize=512)
def _row_writer(namespace: str, set_name: str, select: tuple[str, ...] | None, fmt: Format) -> Any:
    """row -> JSON object for one (service namespace, set, $select, format)."""
    eset = SETS[set_name]
    cols = [
        (p.name, eset.index[p.name], json_converter(p, fmt[1]))
        for p in eset.properties
        if select is None or p.name in select
    ]
    objid, objversion = eset.index["Objid"], eset.index["Objversion"]
    type_name = f"#{eset.entity_type(namespace).qualified_name}"
    metadata = fmt[0]

    def write(row: Row) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if metadata == "full":
            out["@odata.type"] = type_name
            out["@odata.id"] = entity_path(eset, eset.key_of(row))
        if metadata != "none":
            out["@odata.etag"] = etag(row[objid], row[objversion])
        for name, i, convert in cols:
            value = row[i]
            out[name] = value if convert is None or value is None else convert(value)
        return out

    return write


def row_writer(
    service: Service, eset: EntitySet, select: tuple[str, ...] | None, fmt: Format
) -> Any:
    return _row_writer(service.namespace, eset.name, select, fmt)


def entity_path(eset: EntitySet, key: tuple[Any, ...]) -> str:
    """`Set(K1=v1,K2=v2)` with OData literals."""
    inner = ",".join(f"{k}={format_literal(v)}" for k, v in zip(eset.keys, key, strict=True))
    return f"{eset.name}({inner})"


def entity_response(
    request: Request,
    target: Target,
    eset: EntitySet,
    row: Row,
    status: int = 200,
    select: tuple[str, ...] | None = None,
) -> Response:
    """One entity of `eset` with its ETag (and Location when created)."""
    fmt = negotiated(request)
    body = (
        {"@odata.context": f"{target.root}/$metadata#{eset.name}/$entity"}
        if fmt[0] != "none"
        else {}
    )
    body.update(row_writer(target.service, eset, select, fmt)(row))
    tag = etag(row[eset.index["Objid"]], row[eset.index["Objversion"]])
    headers = {"ETag": tag}
    if status == 201:
        path = quote(entity_path(eset, eset.key_of(row)), safe=_PATH_SAFE)
        headers["Location"] = f"{target.root}/{path}"
    return odata_response(body, fmt, status, headers)
