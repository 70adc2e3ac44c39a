"""Fencing: a write step sends a request only while it can prove it holds its leases.

The write protocol sets the step's `Fence` as the current one (a context variable,
so it follows the step's own threads); the HTTP engine calls `check()` right before
every send. A step that cannot prove its lease any more (the database is gone, a
renewal failed or came too late) gets `LeaseLost` instead of a request on the wire.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

READS = frozenset({"GET", "HEAD", "OPTIONS"})


class LeaseLost(Exception):
    """This step can no longer prove it holds its leases, so it sends nothing more.
    The message is one line naming the cause."""


class Fence(Protocol):
    def check(self) -> None:
        """Return if the leases are provably held now; raise `LeaseLost` otherwise."""
        ...


class Sends:
    """How many requests that could change a target were put on the wire in a block
    (its threads included): none means nothing of the block can be in the target."""

    def __init__(self) -> None:
        self.writes = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self.writes += 1


_current: ContextVar[Fence | None] = ContextVar("connector_fence", default=None)
_sends: ContextVar[Sends | None] = ContextVar("connector_sends", default=None)


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


def sending(method: str) -> None:
    """Note a request about to be sent (the HTTP engine calls this after `check()`)."""
    sends = _sends.get()
    if sends is not None and method not in READS:
        sends.add()


@contextmanager
def counting() -> Iterator[Sends]:
    """Count the block's requests that could change a target."""
    sends = Sends()
    token = _sends.set(sends)
    try:
        yield sends
    finally:
        _sends.reset(token)
