"""Classified API errors: what went wrong, on which request, and the API's own words.

Every client raises `ApiError` (or a subclass named for its `kind`). The write
protocol decides from `kind` alone: retry later (transient), re-read (conflict),
park the record (rejected, not_found), fix credentials (auth), or look the
record up before creating it again (outcome_unknown).
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

BODY_EXCERPT_CHARS = 2000
"""How much of a non-JSON error body is kept (HTML pages can be large)."""

_SECRET_QUERY_PARAMS = frozenset(
    {"servicetitanapplicationkey", "client_secret", "access_token", "token", "code"}
)


class ErrorKind(StrEnum):
    TRANSIENT = "transient"
    CONFLICT = "conflict"
    REJECTED = "rejected"
    AUTH = "auth"
    NOT_FOUND = "not_found"
    OUTCOME_UNKNOWN = "outcome_unknown"


def redact_url(url: str) -> str:
    """The URL with credentials and secret-bearing query parameters removed."""
    parts = urlsplit(str(url))
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        if any(k.lower() in _SECRET_QUERY_PARAMS for k, _ in pairs):
            query = urlencode(
                [(k, "***" if k.lower() in _SECRET_QUERY_PARAMS else v) for k, v in pairs],
                safe="$'(),:",
            )
            return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def parse_error_body(content: bytes, content_type: str = "") -> Any:
    """The API's error body: parsed JSON when it is JSON, else a text excerpt."""
    text = content.decode("utf-8", errors="replace")
    if "json" in content_type.lower() or text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text[:BODY_EXCERPT_CHARS]


def api_message(body: Any) -> str:
    """A one-line summary of an error body in IFS's or ServiceTitan's format."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):  # IFS: {"error": {"code", "message", "details"}}
            head = ": ".join(str(error[k]) for k in ("code", "message") if error.get(k))
            details = [
                str(d["message"])
                for d in error.get("details") or []
                if isinstance(d, dict) and d.get("message")
            ]
            return "; ".join(p for p in (head, *details) if p)
        if "title" in body or "errors" in body:  # ServiceTitan: RFC 7807
            parts = [str(body["title"])] if body.get("title") else []
            for field, messages in (body.get("errors") or {}).items():
                parts.append(f"{field}: {'; '.join(map(str, messages))}")
            return "; ".join(parts)
    if isinstance(body, str):
        text = " ".join(body.split())
        if text.lower().startswith(("<!doctype", "<html")):
            return f"an HTML page instead of JSON ({text[:120]}…)"
        return text[:200]
    return ""


class ApiError(Exception):
    """A failed API call: its kind, the request, the HTTP status and the API's body."""

    kind: ErrorKind = ErrorKind.TRANSIENT

    def __init__(
        self,
        message: str,
        *,
        method: str,
        url: str,
        status: int | None = None,
        body: Any = None,
        kind: ErrorKind | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
        attempts: int = 1,
    ) -> None:
        if kind is not None:
            self.kind = kind
        self.retryable = self.kind is ErrorKind.TRANSIENT if retryable is None else retryable
        """Whether the request engine may send the same request again right away."""
        self.method = method
        self.url = redact_url(url)
        self.status = status
        self.body = body
        self.retry_after = retry_after
        self.attempts = attempts
        self.detail = message
        super().__init__(message)

    @property
    def request(self) -> str:
        return f"{self.method} {self.url}"

    def __str__(self) -> str:
        status = f" -> HTTP {self.status}" if self.status is not None else ""
        tries = f" (after {self.attempts} attempts)" if self.attempts > 1 else ""
        return f"[{self.kind}] {self.request}{status}{tries}: {self.detail}"

    def to_record(self) -> dict[str, Any]:
        """A JSON-able description for the audit log and failed records."""
        return {
            "kind": str(self.kind),
            "request": self.request,
            "status": self.status,
            "message": self.detail,
            "body": self.body,
            "attempts": self.attempts,
        }


class TransientError(ApiError):
    """Worth retrying later: rate limited, server error, timeout, lost connection."""

    kind = ErrorKind.TRANSIENT


class ConflictError(ApiError):
    """The target changed underneath us (412, 409) and re-reading did not settle it."""

    kind = ErrorKind.CONFLICT


class RejectedError(ApiError):
    """The API refused the request as invalid; sending it again will not help."""

    kind = ErrorKind.REJECTED


class AuthError(ApiError):
    """Credentials refused or the token endpoint misbehaved; fix the connection."""

    kind = ErrorKind.AUTH


class NotFoundError(ApiError):
    """The record, set or route does not exist."""

    kind = ErrorKind.NOT_FOUND


class OutcomeUnknownError(ApiError):
    """A non-idempotent write was sent but its answer was lost: it may have taken
    effect. Look the record up by its provenance before creating it again."""

    kind = ErrorKind.OUTCOME_UNKNOWN


ERROR_CLASSES: dict[ErrorKind, type[ApiError]] = {
    ErrorKind.TRANSIENT: TransientError,
    ErrorKind.CONFLICT: ConflictError,
    ErrorKind.REJECTED: RejectedError,
    ErrorKind.AUTH: AuthError,
    ErrorKind.NOT_FOUND: NotFoundError,
    ErrorKind.OUTCOME_UNKNOWN: OutcomeUnknownError,
}


def error_for(kind: ErrorKind, message: str, **context: Any) -> ApiError:
    """An instance of the subclass for `kind`."""
    return ERROR_CLASSES[kind](message, **context)
