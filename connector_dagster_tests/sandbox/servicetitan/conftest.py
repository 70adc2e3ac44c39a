"""Fixtures of the ServiceTitan simulator's tests: one simulator per module, reseeded for
each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connector_dagster_tests.sandbox.servicetitan.support import StSandbox, st_sandbox


@pytest.fixture(scope="module")
def server() -> Iterator[StSandbox]:
    """The module's simulator (a module needing another configuration overrides it)."""
    with st_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def st(server: StSandbox) -> StSandbox:
    """The module's simulator, reseeded for this test."""
    return server.reset()
