"""What `check` asks with: the connection's session and the answers already had (a
projection's `$metadata` is fetched once for every flow that uses it)."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from connector_dagster.engine.session import Session
from connector_dagster.lib.errors import ApiError

T = TypeVar("T")


class Probe:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._answers: dict[Hashable, Any] = {}

    def once(self, key: Hashable, ask: Callable[[], T]) -> T | ApiError:
        """`ask()`'s answer, or the ApiError it raised; asked once per key."""
        if key not in self._answers:
            try:
                self._answers[key] = ask()
            except ApiError as exc:
                self._answers[key] = exc
        return self._answers[key]


def api_text(exc: ApiError) -> str:
    """The API's own words for a refusal, in one line."""
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        for key in ("title", "message", "error_description", "detail"):
            if body.get(key):
                return str(body[key])
    return f"HTTP {exc.status}" if exc.status else str(exc).splitlines()[0]
