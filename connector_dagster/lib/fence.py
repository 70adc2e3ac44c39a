"""Fencing: a write step sends a request only while it can prove it holds its leases.

The write protocol sets the step's `Fence` as the current one (a context variable,
so it follows the step's own threads); the HTTP engine calls `check()` right before
every send. A step that cannot prove its lease any more (the database is gone, a
renewal failed or came too late) gets `LeaseLost` instead of a request on the wire.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol


class LeaseLost(Exception):
    """This step can no longer prove it holds its leases, so it sends nothing more.
    The message is one line naming the cause."""


class Fence(Protocol):
    def check(self) -> None:
        """Return if the leases are provably held now; raise `LeaseLost` otherwise."""
        ...


_current: ContextVar[Fence | None] = ContextVar("connector_fence", default=None)


def check() -> None:
    """Check the current step's fence, if any (outside a write step, there is none)."""
    fence = _current.get()
    if fence is not None:
        fence.check()


@contextmanager
def fenced(fence: Fence | None) -> Iterator[None]:
    """Make `fence` the current one in this thread for the block."""
    token = _current.set(fence)
    try:
        yield
    finally:
        _current.reset(token)
