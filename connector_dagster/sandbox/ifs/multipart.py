"""OData `$batch` bodies (`multipart/mixed`, RFC 2046; OData 4.0 §11.7): parsing a
batch into requests and change sets, and writing the multipart answer.

Pure functions on bytes. Lines may end in CRLF or LF. A malformed body raises
`BatchSyntaxError`, whose message names what is wrong and where.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from http import HTTPStatus

_METHODS = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"})
_BOUNDARY = re.compile(r"""(?:^|;)\s*boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))""", re.IGNORECASE)
_REQUEST_LINE = re.compile(r"([A-Z]+) (\S+) HTTP/1\.[01]")


class BatchSyntaxError(ValueError):
    """The batch body does not follow multipart/mixed or OData's batch rules."""


@dataclass
class Request:
    """One request of a batch: the method, URL and headers as written, and the body."""

    method: str
    url: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    content_id: str | None = None


@dataclass
class ChangeSet:
    """Requests that succeed or fail together."""

    requests: list[Request] = field(default_factory=list)


Item = Request | ChangeSet


def boundary_of(content_type: str) -> str:
    """The boundary of a `multipart/mixed` content type."""
    media = content_type.split(";")[0].strip().lower()
    if media != "multipart/mixed":
        raise BatchSyntaxError(f"the Content-Type is '{media}', not multipart/mixed")
    m = _BOUNDARY.search(content_type[content_type.find(";") :])
    if m is None:
        raise BatchSyntaxError("the multipart/mixed Content-Type has no boundary parameter")
    return m.group(1) or m.group(2)


def split_parts(body: bytes, boundary: str) -> list[bytes]:
    """The parts between `--boundary` lines, up to the closing `--boundary--`."""
    delimiter = b"--" + boundary.encode("latin-1")
    parts: list[bytes] = []
    current: list[bytes] | None = None
    for line in body.split(b"\n"):
        bare = line.rstrip(b"\r").rstrip(b" \t")
        if bare in (delimiter, delimiter + b"--"):
            if current is not None:
                part = b"\n".join(current)
                parts.append(part[:-1] if part.endswith(b"\r") else part)
            if bare.endswith(b"--") and bare != delimiter:
                if not parts:
                    raise BatchSyntaxError("the multipart body holds no part")
                return parts
            current = []
        elif current is not None:
            current.append(line)
    if current is None:
        raise BatchSyntaxError(f"the body never starts a part with --{boundary}")
    raise BatchSyntaxError(f"the multipart body has no closing delimiter --{boundary}--")


def _head_and_body(data: bytes, what: str) -> tuple[dict[str, str], bytes]:
    """Header lines up to the first empty line, then the rest."""
    headers: dict[str, str] = {}
    rest = data
    while True:
        line, newline, rest = rest.partition(b"\n")
        text = line.rstrip(b"\r").decode("latin-1")
        if not text:
            return headers, rest
        name, colon, value = text.partition(":")
        if not colon or not name.strip():
            raise BatchSyntaxError(f"{what}: '{text[:60]}' is not a header line")
        headers[name.strip().lower()] = value.strip()
        if not newline:
            return headers, b""


def _request(part: bytes, number: str, in_changeset: bool) -> Request:
    mime, inner = _head_and_body(part, f"part {number}")
    kind = mime.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/http":
        raise BatchSyntaxError(f"part {number} is '{kind or 'untyped'}', not application/http")
    line, _, rest = inner.partition(b"\n")
    request_line = line.rstrip(b"\r").decode("utf-8", errors="replace")
    m = _REQUEST_LINE.fullmatch(request_line)
    if m is None or m.group(1) not in _METHODS:
        raise BatchSyntaxError(f"part {number}: '{request_line[:80]}' is not an HTTP request line")
    headers, body = _head_and_body(rest, f"part {number}")
    if in_changeset and m.group(1) == "GET":
        raise BatchSyntaxError(f"part {number}: GET is not allowed inside a change set")
    content_id = mime.get("content-id") or headers.get("content-id")
    return Request(m.group(1), m.group(2), headers, body, content_id)


def parse_batch(content_type: str, body: bytes) -> list[Item]:
    """The requests and change sets of a batch, in order."""
    items: list[Item] = []
    for n, part in enumerate(split_parts(body, boundary_of(content_type)), start=1):
        mime, inner = _head_and_body(part, f"part {n}")
        if not mime.get("content-type", "").lower().startswith("multipart/"):
            items.append(_request(part, str(n), in_changeset=False))
            continue
        changeset = ChangeSet()
        for m, sub in enumerate(split_parts(inner, boundary_of(mime["content-type"])), start=1):
            sub_mime, _ = _head_and_body(sub, f"part {n}.{m}")
            if sub_mime.get("content-type", "").lower().startswith("multipart/"):
                raise BatchSyntaxError(f"part {n}.{m}: change sets do not nest")
            changeset.requests.append(_request(sub, f"{n}.{m}", in_changeset=True))
        ids = [r.content_id for r in changeset.requests if r.content_id is not None]
        if len(ids) != len(set(ids)):
            raise BatchSyntaxError(f"part {n}: a Content-ID repeats within the change set")
        items.append(changeset)
    return items


def count_requests(items: list[Item]) -> int:
    return sum(len(i.requests) if isinstance(i, ChangeSet) else 1 for i in items)


@dataclass
class Answer:
    """One response of a batch: status, headers and body, and the request's Content-ID."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    content_id: str | None = None


def http_part(answer: Answer) -> bytes:
    """An `application/http` part holding one response."""
    mime = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if answer.content_id is not None:
        mime.append(f"Content-ID: {answer.content_id}")
    try:
        reason = HTTPStatus(answer.status).phrase
    except ValueError:
        reason = ""
    lines = [f"HTTP/1.1 {answer.status} {reason}".rstrip()]
    lines += [f"{name}: {value}" for name, value in answer.headers]
    head = "\r\n".join(mime) + "\r\n\r\n" + "\r\n".join(lines) + "\r\n\r\n"
    return head.encode("latin-1") + answer.body


def multipart(parts: list[bytes], boundary: str) -> bytes:
    """Parts joined as `multipart/mixed` with `boundary`, closing delimiter included."""
    delimiter = f"--{boundary}\r\n".encode("latin-1")
    body = b"".join(delimiter + part + b"\r\n" for part in parts)
    return body + f"--{boundary}--\r\n".encode("latin-1")


def changeset_part(parts: list[bytes], boundary: str) -> bytes:
    """A change set's responses as one nested `multipart/mixed` part."""
    head = f"Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n".encode("latin-1")
    return head + multipart(parts, boundary)
