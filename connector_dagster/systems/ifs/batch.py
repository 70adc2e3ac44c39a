"""OData `$batch` bodies for IFS (multipart/mixed, OData 4.0 §11.7): change sets of
requests written out, the multipart answer read back. Pure functions on bytes.

A change set is all-or-nothing in IFS: its requests run in order, a later one may
name an entity an earlier one created as `$<Content-ID>` (in its URL, and in
`If-Match` for that entity's ETag), and a failing request undoes the whole set,
which is then answered by that one failure alone.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connector_dagster.lib.http import decode_json, encode_json

_BOUNDARY = re.compile(r"""boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))""", re.IGNORECASE)
_STATUS_LINE = re.compile(r"HTTP/1\.[01] (\d{3})(?: .*)?")


class BatchFormatError(ValueError):
    """The `$batch` answer is not the multipart/mixed OData describes."""


@dataclass(frozen=True)
class BatchRequest:
    """One request of a change set: its URL relative to the projection's service root
    (`ExternalVoucherSet`, or `$1/ExternalVoucherRowArray`), its JSON body, the
    Content-ID later requests name it by, and extra headers (`If-Match: $1`)."""

    method: str
    url: str
    body: Mapping[str, Any] | None = None
    content_id: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchAnswer:
    """One response inside a `$batch` answer: status, headers (lower-case names), the
    parsed JSON body (Decimals for fractions; the text when it is not JSON, None when
    empty) and the Content-ID of the request it answers."""

    status: int
    headers: dict[str, str]
    data: Any
    content_id: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def encode(change_sets: Sequence[Sequence[BatchRequest]]) -> tuple[str, bytes]:
    """(Content-Type, body) of a batch holding each sequence as one change set."""
    batch = f"batch_{uuid.uuid4()}"
    out: list[bytes] = []
    for requests in change_sets:
        changeset = f"changeset_{uuid.uuid4()}"
        out.append(
            f"--{batch}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n".encode()
        )
        for request in requests:
            out.append(f"--{changeset}\r\n".encode())
            out.append(_request_part(request))
            out.append(b"\r\n")
        out.append(f"--{changeset}--\r\n".encode())
    out.append(f"--{batch}--\r\n".encode())
    return f"multipart/mixed; boundary={batch}", b"".join(out)


def _request_part(request: BatchRequest) -> bytes:
    mime = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if request.content_id is not None:
        mime.append(f"Content-ID: {request.content_id}")
    lines = [f"{request.method.upper()} {request.url} HTTP/1.1", "Accept: application/json"]
    body = b""
    if request.body is not None:
        lines.append("Content-Type: application/json")
        body = encode_json(dict(request.body))
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    head = "\r\n".join(mime) + "\r\n\r\n" + "\r\n".join(lines) + "\r\n\r\n"
    return head.encode("latin-1") + body


def decode(content_type: str, body: bytes) -> list[list[BatchAnswer]]:
    """The answers of a batch: per top-level part, the answers of its change set (or
    the single answer of a failed change set or of a request outside any)."""
    items: list[list[BatchAnswer]] = []
    for part in _parts(body, _boundary(content_type)):
        mime, inner = _head_and_body(part)
        kind = mime.get("content-type", "")
        if kind.lower().startswith("multipart/"):
            items.append([_answer(sub) for sub in _parts(inner, _boundary(kind))])
        else:
            items.append([_answer(part)])
    return items


def _boundary(content_type: str) -> str:
    if not content_type.lower().startswith("multipart/mixed"):
        raise BatchFormatError(f"the answer is {content_type or 'untyped'}, not multipart/mixed")
    found = _BOUNDARY.search(content_type)
    if found is None:
        raise BatchFormatError("the multipart/mixed answer names no boundary")
    return found.group(1) or found.group(2)


def _parts(body: bytes, boundary: str) -> list[bytes]:
    delimiter = b"--" + boundary.encode("latin-1")
    parts: list[bytes] = []
    current: list[bytes] | None = None
    for line in body.split(b"\n"):
        bare = line.rstrip(b"\r").rstrip()
        if bare in (delimiter, delimiter + b"--"):
            if current is not None:
                part = b"\n".join(current)
                parts.append(part[:-1] if part.endswith(b"\r") else part)
            if bare.endswith(b"--") and bare != delimiter:
                return parts
            current = []
        elif current is not None:
            current.append(line)
    raise BatchFormatError(f"the multipart answer does not end with --{boundary}--")


def _head_and_body(data: bytes) -> tuple[dict[str, str], bytes]:
    headers: dict[str, str] = {}
    rest = data
    while True:
        line, newline, rest = rest.partition(b"\n")
        text = line.rstrip(b"\r").decode("latin-1")
        if not text:
            return headers, rest
        name, colon, value = text.partition(":")
        if not colon:
            raise BatchFormatError(f"'{text[:60]}' is not a header line")
        headers[name.strip().lower()] = value.strip()
        if not newline:
            return headers, b""


def _answer(part: bytes) -> BatchAnswer:
    mime, inner = _head_and_body(part)
    status_line, _, rest = inner.partition(b"\n")
    found = _STATUS_LINE.fullmatch(status_line.rstrip(b"\r").decode("latin-1").strip())
    if found is None:
        raise BatchFormatError(f"'{status_line[:60]!r}' is not an HTTP status line")
    headers, body = _head_and_body(rest)
    data: Any = None
    if body.strip():
        try:
            data = decode_json(body)
        except ValueError:
            data = body.decode("utf-8", errors="replace")
    content_id = mime.get("content-id") or headers.get("content-id")
    return BatchAnswer(int(found.group(1)), headers, data, content_id)
