"""Fencing: a write step sends a request only while it can prove it holds its leases.

The write protocol sets the step's `Fence` as the current one (a context variable,
so it follows the step's own threads); the HTTP engine calls `check()` right before
every send. A step that cannot prove its lease any more (the database is gone, a
renewal failed or came too late) gets `LeaseLost` instead of a request on the wire.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
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


def current() -> tuple[Fence | None, Sends | None]:
    """This thread's fence and send count, for a request another thread sends on its
    behalf (`on_behalf`)."""
    return _current.get(), _sends.get()


class _Counts(Sends):
    """Every one of several blocks' counts at once."""

    def __init__(self, counts: list[Sends]) -> None:
        super().__init__()
        self._counts = counts

    def add(self) -> None:
        super().add()
        for sends in self._counts:
            sends.add()


@contextmanager
def on_behalf(counts: Iterable[Sends | None]) -> Iterator[None]:
    """Count the block's requests in each of `counts` too: a request sent for several
    threads' writes at once (a group of them) may have put each of them in the
    target. The block stays under this thread's own fence."""
    sends = _Counts([c for c in counts if c is not None])
    token = _sends.set(sends)
    try:
        yield
    finally:
        _sends.reset(token)


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
