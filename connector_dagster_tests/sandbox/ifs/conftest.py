"""Fixtures of the IFS simulator's tests: one simulator per module, back at its seed for
each test."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from connector_dagster_tests.sandbox.ifs.support import Ifs, fresh, simulator


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    """The module's IFS simulator (a module needing another configuration overrides it)."""
    with simulator() as http:
        yield http


@pytest.fixture
def client(http: httpx.Client) -> Ifs:
    """The module's simulator reseeded, without faults, default switches, a new token."""
    return fresh(http)
