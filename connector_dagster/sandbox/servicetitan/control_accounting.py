"""The ServiceTitan simulator's accounting control endpoints, what an accountant
or another integration would do between two API calls:

- `GET /_sandbox/accounting-periods`: `{"closed": ["2026-03", …]}`.
- `POST /_sandbox/accounting-periods/{YYYY-MM}/close` and `…/reopen`: close or
  reopen a period for journal entries (the same list as the fault profile's
  `closed_periods`, so `PUT /_sandbox/faults` replaces it too)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from connector_dagster.sandbox.servicetitan.control_http import ok, sim_of
from connector_dagster.sandbox.servicetitan.journal_rules import valid_period


def _closed(request: Request) -> list[str]:
    sandbox = sim_of(request).sandbox
    assert sandbox is not None
    return list(sandbox.profile.closed_periods)


def _set_closed(request: Request, periods: set[str]) -> list[str]:
    sandbox = sim_of(request).sandbox
    assert sandbox is not None
    sandbox.profile.closed_periods = sorted(periods)
    return sandbox.profile.closed_periods


async def periods(request: Request) -> Response:
    return ok({"closed": _closed(request)})


async def close_period(request: Request) -> Response:
    period = valid_period(request.path_params["period"])
    closed = _set_closed(request, {*_closed(request), period})
    return ok({"period": period, "closed": True, "closedPeriods": closed})


async def reopen_period(request: Request) -> Response:
    period = valid_period(request.path_params["period"])
    closed = _set_closed(request, set(_closed(request)) - {period})
    return ok({"period": period, "closed": False, "closedPeriods": closed})


ROUTES = (
    ("/_sandbox/accounting-periods", periods, ["GET"]),
    ("/_sandbox/accounting-periods/{period}/close", close_period, ["POST"]),
    ("/_sandbox/accounting-periods/{period}/reopen", reopen_period, ["POST"]),
)
