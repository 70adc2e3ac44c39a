"""`POST {P}.svc/$batch` in the IFS simulator (multipart/mixed, OData 4.0 §11.7).

Requests run in order, each as if sent alone (same token, CSRF header and host
as the batch). A change set is all-or-nothing: the first failing request undoes
the set's earlier writes and the set answers with that one failure. Inside a
change set, `$n` at the start of a URL stands for the entity that the request
with `Content-ID: n` created or changed, and `If-Match: $n` for its ETag. The
batch stops at the first failure unless sent with `Prefer: odata.continue-on-error`.
A malformed body, a GET inside a change set or more than `batch_max_requests`
requests refuse the whole batch with a 400 before anything runs. The batch is one
request against the request limit and as many operations as it holds requests against
the operations limit (a 429 before anything runs when they do not fit).
"""

from __future__ import annotations

import string
import uuid
from collections.abc import Awaitable, Callable
from urllib.parse import quote, unquote, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from connector_dagster.sandbox.ifs import multipart
from connector_dagster.sandbox.ifs.multipart import Answer, BatchSyntaxError, ChangeSet
from connector_dagster.sandbox.ifs.odata import ODataError
from connector_dagster.sandbox.ifs.responses import Target, error_response

Dispatch = Callable[[Request], Awaitable[Response]]
References = dict[str, tuple[str, str | None]]
"""Content-ID -> (path of the entity it wrote, its ETag)."""

_URL_SAFE = string.punctuation
"""Kept as written in a part's URL; spaces and non-ASCII are percent-encoded."""
_FROM_BATCH = ("authorization", "x-xsrf-token", "host", "accept")
_SERVICE_SEGMENTS = ("$metadata", "$batch")


IN_BATCH = "sandbox.in_batch"
"""Set in the scope of a request that a `$batch` holds (its operations were counted)."""


def take_operations(request: Request, client: str, count: int) -> None:
    """Count `count` operations against the client's operations limit; a 429 with
    Retry-After when they do not fit (nothing of the request has run)."""
    wait = request.app.state.operations.check(client, count)
    if wait > 0:
        raise ODataError(
            429,
            "TOO_MANY_REQUESTS",
            f"Operation limit exceeded: {count} operation(s) do not fit the limit now.",
            headers={"Retry-After": str(max(1, round(wait + 0.499)))},
        )


class _ChangeSetFailed(Exception):
    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.status)
        self.answer = answer


def _refused(code: str, message: str) -> ODataError:
    return ODataError(
        400,
        "ODP_DESERIALIZATION_ERROR",
        "Error while de-serializing contents.",
        [{"code": code, "message": message}],
    )


async def run(request: Request, target: Target, dispatch: Dispatch, client: str) -> Response:
    """Parse the batch, count its requests against the `client`'s operations limit, run
    its requests and change sets, answer multipart/mixed."""
    try:
        items = multipart.parse_batch(request.headers.get("content-type", ""), await request.body())
    except BatchSyntaxError as exc:
        raise _refused("MALFORMED_BATCH", f"The $batch body is malformed: {exc}.") from None
    limit = request.app.state.behaviour.batch_max_requests
    if multipart.count_requests(items) > limit:
        raise _refused(
            "BATCH_TOO_LARGE",
            f"The $batch holds {multipart.count_requests(items)} requests; at most {limit} "
            "are allowed in one batch. Split it.",
        )
    take_operations(request, client, multipart.count_requests(items))
    go_on = "continue-on-error" in request.headers.get("prefer", "").lower()
    parts: list[bytes] = []
    for item in items:
        if isinstance(item, ChangeSet):
            part, ok = await _changeset(request, target, item, dispatch)
        else:
            answer = await _call(request, target, item, {}, dispatch)
            part, ok = multipart.http_part(answer), answer.status < 400
        parts.append(part)
        if not ok and not go_on:
            break
    boundary = f"batchresponse_{uuid.uuid4()}"
    headers = {"OData-Version": "4.0"}
    if go_on:
        headers["Preference-Applied"] = "odata.continue-on-error"
    return Response(
        multipart.multipart(parts, boundary),
        200,
        headers,
        media_type=f"multipart/mixed; boundary={boundary}",
    )


async def _changeset(
    request: Request, target: Target, changeset: ChangeSet, dispatch: Dispatch
) -> tuple[bytes, bool]:
    store = request.app.state.store
    answers: list[Answer] = []
    refs: References = {}
    try:
        with store.transaction():
            for sub in changeset.requests:
                answer = await _call(request, target, sub, refs, dispatch)
                if answer.status >= 400:
                    raise _ChangeSetFailed(answer)
                answers.append(answer)
    except _ChangeSetFailed as failed:
        return multipart.http_part(failed.answer), False
    parts = [multipart.http_part(a) for a in answers]
    return multipart.changeset_part(parts, f"changesetresponse_{uuid.uuid4()}"), True


async def _call(
    request: Request,
    target: Target,
    sub: multipart.Request,
    refs: References,
    dispatch: Dispatch,
) -> Answer:
    """Run one request of the batch; record what it wrote under its Content-ID."""
    try:
        path, query = _url(sub.url, urlsplit(target.root).path, refs)
        if path.rstrip("/").endswith("/$batch"):
            raise ODataError(400, "ODP_UNSUPPORTED_URL", "A $batch cannot hold another $batch.")
        headers = _headers(request, sub, refs)
        response = await dispatch(_sub_request(request, sub, path, query, headers))
    except ODataError as exc:
        response = error_response(exc)
    answer = Answer(
        response.status_code,
        [(k, v) for k, v in response.headers.items() if k != "content-length"],
        bytes(response.body),
        sub.content_id,
    )
    if sub.content_id is not None and answer.status < 400:
        location = response.headers.get("location")
        written = urlsplit(location).path if location else path
        refs[sub.content_id] = (written, response.headers.get("etag"))
    return answer


def _reference(name: str, refs: References) -> tuple[str, str | None]:
    if name not in refs:
        raise ODataError(
            400,
            "ODP_UNSUPPORTED_URL",
            f"Malformed Request: ${name} names no earlier request of this change set.",
        )
    return refs[name]


def _url(url: str, root_path: str, refs: References) -> tuple[str, str]:
    """(path, query) of a part's URL: `$n/...`, relative to the service, an absolute
    path or an absolute URL; spaces and non-ASCII percent-encoded."""
    path, _, query = url.partition("?")
    if path.startswith("$") and path.split("/")[0] not in _SERVICE_SEGMENTS:
        name, slash, rest = path[1:].partition("/")
        path = _reference(name, refs)[0] + slash + rest
    elif "://" in path:
        path = urlsplit(path).path
    elif not path.startswith("/"):
        path = f"{root_path}/{path}"
    return quote(path, safe=_URL_SAFE), quote(query, safe=_URL_SAFE)


def _headers(
    request: Request, sub: multipart.Request, refs: References
) -> list[tuple[bytes, bytes]]:
    headers = dict(sub.headers)
    for name in _FROM_BATCH:
        if name not in headers and name in request.headers:
            headers[name] = request.headers[name]
    if_match = headers.get("if-match", "")
    if if_match.startswith("$"):
        headers["if-match"] = _reference(if_match[1:], refs)[1] or ""
    try:
        return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    except UnicodeEncodeError:
        raise ODataError(
            400, "ODP_UNSUPPORTED_URL", "Malformed Request: a header is not ISO-8859-1 text."
        ) from None


def _sub_request(
    request: Request,
    sub: multipart.Request,
    path: str,
    query: str,
    headers: list[tuple[bytes, bytes]],
) -> Request:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": sub.method,
        "scheme": request.url.scheme,
        "server": request.scope.get("server"),
        "client": request.scope.get("client"),
        "root_path": "",
        "path": unquote(path),
        "raw_path": path.encode("ascii"),
        "query_string": query.encode("ascii"),
        "headers": headers,
        "app": request.scope["app"],
        IN_BATCH: True,
    }
    body = sub.body

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)
