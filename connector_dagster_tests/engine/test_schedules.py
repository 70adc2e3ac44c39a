"""Schedules: intraday polling of the open period, close cycle on business days 1..N."""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg

from connector_dagster.engine.schedules import business_day_of_month


def test_business_days_skip_weekends_and_holidays() -> None:
    # 2026-11-01 is a Sunday; Monday the 2nd is business day 1
    assert business_day_of_month(date(2026, 11, 1), set()) is None
    assert business_day_of_month(date(2026, 11, 2), set()) == 1
    assert business_day_of_month(date(2026, 11, 4), {"2026-11-03"}) == 2


def _tick(name: str, when: datetime) -> list[dg.RunRequest] | None:
    from connector_dagster.definitions import defs

    schedule = defs.resolve_schedule_def(name)
    with dg.instance_for_test() as instance:
        ctx = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=when,
            repository_def=defs.get_repository_def(),
        )
        return schedule.evaluate_tick(ctx).run_requests


def test_poll_requests_the_open_period_in_the_books_timezone() -> None:
    # 2026-11-01 05:00 UTC is still October 31 in Los Angeles
    [req] = _tick("sandbox_purchase_orders_poll_schedule", datetime(2026, 11, 1, 5, tzinfo=UTC))
    assert req.partition_key == "2026-10-01"
    [req] = _tick("sandbox_purchase_orders_poll_schedule", datetime(2026, 11, 26, 20, tzinfo=UTC))
    assert req.partition_key == "2026-11-01"


def test_close_schedule_requests_the_prior_period_on_business_days_only() -> None:
    name = "sandbox_purchase_orders_close_schedule"
    [req] = _tick(name, datetime(2026, 12, 1, 14, tzinfo=UTC))  # Tue, business day 1
    assert req.partition_key == "2026-11-01" and req.run_key == "close-2026-11-01-2026-12-01"
    assert _tick(name, datetime(2026, 12, 9, 14, tzinfo=UTC)) == []  # business day 7
