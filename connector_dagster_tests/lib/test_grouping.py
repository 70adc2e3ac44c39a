"""Group commit (`lib/grouping`): threads' items sent several to a call, each thread
answered alone, a group sent only under the fence of the items it holds."""

from __future__ import annotations

import threading
from collections.abc import Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from connector_dagster.lib import fence
from connector_dagster.lib.fence import LeaseLost
from connector_dagster.lib.grouping import Grouper

LONG = 60.0
"""A linger no group waits out: each test's groups close by filling up."""


class Step:
    """A write step's fence, lost on demand."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lost = False

    def check(self) -> None:
        if self.lost:
            raise LeaseLost(f"{self.name}: leases lost")


class Sent:
    """A `send` that checks the fence and counts a write, as the HTTP transport does."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, Hashable, list[Any]]] = []
        self.lock = threading.Lock()

    def __call__(self, key: Hashable, items: Sequence[Any]) -> list[Any]:
        fence.check()
        fence.sending("POST")
        with self.lock:
            self.calls.append((fence.current()[0], key, list(items)))
        return [ValueError(f"refused {i}") if i == "bad" else f"ok {i}" for i in items]


def submit_all(grouper: Grouper, jobs: list[tuple[Any, ...]]) -> list[tuple[Any, int]]:
    """Each job's (answer or exception, writes counted for it), submitted at once from
    its own thread under its step's fence."""
    start = threading.Barrier(len(jobs))

    def one(job: tuple[Any, ...]) -> tuple[Any, int]:
        step, item, key, *weight = job
        with fence.fenced(step), fence.counting() as sends:
            start.wait()
            try:
                answer: Any = grouper.submit(item, key, *weight)
            except Exception as exc:
                answer = exc
        return answer, sends.writes

    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(one, jobs))


def test_items_are_sent_in_groups_and_each_thread_gets_its_own_answer() -> None:
    sent = Sent()
    step = Step("a")
    grouper = Grouper(sent, size=4, linger_s=LONG)
    items = [*(f"d{n}" for n in range(7)), "bad"]
    answers = submit_all(grouper, [(step, i, "k") for i in items])
    assert sorted(len(items) for _, _, items in sent.calls) == [4, 4]
    assert sorted(i for _, _, items in sent.calls for i in items) == sorted(items)
    for item, (answer, writes) in zip(items, answers, strict=True):
        if item == "bad":
            assert isinstance(answer, ValueError) and str(answer) == "refused bad"
        else:
            assert answer == f"ok {item}"
        assert writes == 1  # the request that carried it counts for it


def test_a_group_holds_items_of_one_fence_and_key_and_is_sent_under_that_fence() -> None:
    sent = Sent()
    one, other = Step("one"), Step("other")
    grouper = Grouper(sent, size=2, linger_s=LONG)
    jobs = [(one, "a1", "k"), (other, "b1", "k"), (one, "a2", "k"), (other, "b2", "k")]
    jobs += [(one, "c1", "j"), (one, "c2", "j")]
    answers = submit_all(grouper, jobs)
    assert all(str(answer).startswith("ok") for answer, _ in answers)
    groups = {(step.name, key, frozenset(items)) for step, key, items in sent.calls}
    assert groups == {
        ("one", "k", frozenset({"a1", "a2"})),
        ("other", "k", frozenset({"b1", "b2"})),
        ("one", "j", frozenset({"c1", "c2"})),
    }


def test_a_lost_fence_sends_nothing_and_fails_every_member() -> None:
    sent = Sent()
    step = Step("lost")
    step.lost = True
    grouper = Grouper(sent, size=3, linger_s=LONG)
    answers = submit_all(grouper, [(step, f"d{n}", "k") for n in range(3)])
    assert sent.calls == []
    assert all(isinstance(a, LeaseLost) and writes == 0 for a, writes in answers)


def test_a_group_that_does_not_fill_is_sent_after_its_linger() -> None:
    sent = Sent()
    grouper = Grouper(sent, size=10, linger_s=0.0)
    with fence.fenced(Step("a")):
        assert grouper.submit("d1", "k") == "ok d1"
    assert [items for _, _, items in sent.calls] == [["d1"]]


def test_a_group_closes_at_its_weight_and_a_heavier_item_goes_alone() -> None:
    sent = Sent()
    step = Step("a")
    grouper = Grouper(sent, size=10, linger_s=LONG, max_weight=6)
    answers = submit_all(grouper, [(step, f"d{n}", "k", 3) for n in range(4)])
    assert all(str(answer).startswith("ok") for answer, _ in answers)
    assert sorted(len(items) for _, _, items in sent.calls) == [2, 2]
    lone = Grouper(sent, size=10, linger_s=0.0, max_weight=6)
    with fence.fenced(step):
        assert lone.submit("big", "k", weight=9) == "ok big"
    assert sent.calls[-1][2] == ["big"]


def test_a_group_is_at_least_one_item() -> None:
    with pytest.raises(ValueError):
        Grouper(Sent(), size=0, linger_s=0.0)
