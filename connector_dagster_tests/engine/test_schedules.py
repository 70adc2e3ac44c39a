"""Schedules: intraday polling of the open period, close cycle on business days 1..N."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

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
    with (
        dg.instance_for_test() as instance,
        dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=when,
            repository_def=defs.get_repository_def(),
        ) as ctx,
    ):
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


def _evaluate(name: str, ticks: list[datetime]) -> list[list[dg.RunRequest]]:
    """The run requests of schedule `name` at each tick (one instance for all)."""
    from connector_dagster.definitions import defs

    schedule = defs.resolve_schedule_def(name)
    repository = defs.get_repository_def()
    results = []
    with dg.instance_for_test() as instance:
        for tick in ticks:
            with dg.build_schedule_context(
                instance=instance, scheduled_execution_time=tick, repository_def=repository
            ) as context:
                result = schedule(context)
            results.append([result] if isinstance(result, dg.RunRequest) else [])
        return results


def _ticks(cron: str, start: datetime, end: datetime) -> list[datetime]:
    """Every tick Dagster's daemon fires for `cron` in the books' timezone in [start, end)."""
    from dagster._utils.schedules import cron_string_iterator

    ticks = []
    for tick in cron_string_iterator(start.timestamp(), cron, "America/Los_Angeles"):
        if tick >= end:
            return ticks
        ticks.append(tick)
    return ticks


# Month ends that are also daylight-saving changes in Los Angeles (2026-03-08 spring
# forward, 2026-11-01 fall back), and a plain one.
WINDOWS = [
    (datetime(2026, 2, 27, tzinfo=UTC), datetime(2026, 3, 12, tzinfo=UTC)),
    (datetime(2026, 10, 29, tzinfo=UTC), datetime(2026, 11, 11, tzinfo=UTC)),
    (datetime(2026, 11, 28, tzinfo=UTC), datetime(2026, 12, 11, tzinfo=UTC)),
]


def test_every_poll_tick_names_the_month_of_its_local_time_across_dst_and_month_ends() -> None:
    from zoneinfo import ZoneInfo

    name = "sandbox_purchase_orders_poll_schedule"
    cron = "*/30 6-20 * * 1-5"
    la = ZoneInfo("America/Los_Angeles")
    checked = 0
    for start, end in WINDOWS:
        ticks = _ticks(cron, start, end)
        for tick, (req,) in zip(ticks, _evaluate(name, ticks), strict=True):
            local = tick.astimezone(la)
            assert req.partition_key == f"{local:%Y-%m}-01", tick
            assert 6 <= local.hour <= 20 and local.isoweekday() <= 5
            checked += 1
    assert checked > 200


def test_close_ticks_run_the_prior_month_on_its_business_days_only_across_dst() -> None:
    from zoneinfo import ZoneInfo

    from connector_dagster.engine.schedules import business_day_of_month

    name = "sandbox_purchase_orders_close_schedule"
    la = ZoneInfo("America/Los_Angeles")
    runs = []
    for start, end in WINDOWS:
        ticks = _ticks("0 6 * * *", start, end)
        for tick, requests in zip(ticks, _evaluate(name, ticks), strict=True):
            local = tick.astimezone(la)
            assert local.hour == 6, tick  # 06:00 in the books' timezone, DST or not
            nth = business_day_of_month(local.date(), set())
            if nth is not None and nth <= 5:
                [req] = requests
                prior = (local.date().replace(day=1) - timedelta(days=1)).replace(day=1)
                assert req.partition_key == prior.isoformat(), tick
                runs.append(local.date())
            else:
                assert requests == [], tick
    assert [d.isoformat() for d in runs] == [
        "2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05", "2026-03-06",
        "2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05", "2026-11-06",
        "2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04", "2026-12-07",
    ]  # fmt: skip


def test_schedule_descriptions_say_when_they_run() -> None:
    from connector_dagster.definitions import defs

    close = defs.resolve_schedule_def("sandbox_purchase_orders_close_schedule")
    assert close.cron_schedule == "0 6 * * *"
    assert "business days 1 to 5" in close.description
    assert "06:00 America/Los_Angeles" in close.description
    poll = defs.resolve_schedule_def("sandbox_purchase_orders_poll_schedule")
    assert "*/30 6-20 * * 1-5" in poll.description and "open accounting period" in poll.description
