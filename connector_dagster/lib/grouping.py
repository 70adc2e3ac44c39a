"""Group commit: writes that threads hand in one at a time, sent several to a request.

Each thread calls `Grouper.submit(item)` and blocks. The first thread to find no open
group leads one: it waits until `size` items (or `max_weight` of them) have joined or
`linger_s` has passed since it opened the group, then sends all of them in one call of
`send`, which answers each item on its own (a value, or that item's own exception).
Every thread gets its own answer back. A group holds only the items of one key handed
in under one fence (one write step's leases); its leading thread sends it under that
fence, and the request counts as sent for every member (`fence.on_behalf`). A failure
of the whole call (the fence lost, refused credentials) is every member's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from connector_dagster.lib import fence

I = TypeVar("I")  # noqa: E741
R = TypeVar("R")

Send = Callable[[Hashable, Sequence[I]], Sequence["R | BaseException"]]
"""(key, items) -> one answer per item, in order: its value or its exception."""


@dataclass
class _Group(Generic[I]):
    items: list[I] = field(default_factory=list)
    counts: list[fence.Sends | None] = field(default_factory=list)
    weight: int = 0
    closed: bool = False
    answers: Sequence[Any] = ()
    failure: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


class Grouper(Generic[I, R]):
    """Items of concurrent threads sent `size` at a time by `send` (see the module)."""

    def __init__(
        self,
        send: Send[I, R],
        *,
        size: int,
        linger_s: float,
        max_weight: int | None = None,
    ) -> None:
        if size < 1 or linger_s < 0:
            raise ValueError(f"a group holds at least 1 item for 0 s or more, not {size}")
        self._send = send
        self.size = size
        self.linger_s = linger_s
        self.max_weight = max_weight
        self._open: dict[tuple[int, Hashable], _Group[I]] = {}
        self._changed = threading.Condition()

    def submit(self, item: I, key: Hashable = None, weight: int = 1) -> R:
        """Send `item` with others of the same `key` and fence; its own answer."""
        own_fence, counts = fence.current()
        where = (id(own_fence), key)
        with self._changed:
            group = self._open.get(where)
            if group is not None and self._too_heavy(group, weight):
                self._close(where, group)
                group = None
            leads = group is None
            if group is None:
                group = self._open[where] = _Group()
            index = len(group.items)
            group.items.append(item)
            group.counts.append(counts)
            group.weight += weight
            full = self.max_weight is not None and group.weight >= self.max_weight
            if full or len(group.items) >= self.size:
                self._close(where, group)
            if leads:
                deadline = time.monotonic() + self.linger_s
                while not group.closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self._close(where, group)
                        break
                    self._changed.wait(left)
        if leads:
            self._run(key, group)
        else:
            group.done.wait()
        if group.failure is not None:
            raise group.failure
        answer = group.answers[index]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def _too_heavy(self, group: _Group[I], more: int) -> bool:
        return (
            self.max_weight is not None
            and bool(group.items)
            and (group.weight + more > self.max_weight)
        )

    def _close(self, where: tuple[int, Hashable], group: _Group[I]) -> None:
        group.closed = True
        if self._open.get(where) is group:
            del self._open[where]
        self._changed.notify_all()

    def _run(self, key: Hashable, group: _Group[I]) -> None:
        try:
            with fence.on_behalf(group.counts):
                answers = self._send(key, group.items)
            if len(answers) != len(group.items):
                raise RuntimeError(
                    f"a group of {len(group.items)} was answered {len(answers)} times"
                )
            group.answers = answers
        except BaseException as exc:
            group.failure = exc
            raise
        finally:
            group.done.set()
