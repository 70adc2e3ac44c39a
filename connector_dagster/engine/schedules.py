"""Schedules of every flow: intraday runs of the open period, and nightly runs of the
prior period during the close window (its first N business days, books' timezone).

Every tick names its period from the tick's time in the books' timezone, so no
schedule requests the wrong month at a month boundary or across a daylight-saving
change; descriptions say exactly when they run.
"""

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg

from connector_dagster.engine.connections import CloseCalendar, Connection
from connector_dagster.engine.periods import period_key

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def business_day_of_month(
    day: date, holidays: set[str], workdays: frozenset[int] = frozenset(range(1, 6))
) -> int | None:
    """1 for the month's first business day, and so on; None on other days."""

    def working(d: date) -> bool:
        return d.isoweekday() in workdays and d.isoformat() not in holidays

    if not working(day):
        return None
    return sum(1 for n in range(day.day) if working(day.replace(day=n + 1)))


def close_day(cal: CloseCalendar, day: date) -> int | None:
    """Which business day of the close window `day` is (1..N), or None."""
    nth = business_day_of_month(day, set(cal.holidays), frozenset(cal.workdays))
    return nth if nth is not None and nth <= cal.business_days else None


def prior_period(day: date) -> str:
    return period_key(day.replace(day=1) - timedelta(days=1))


def _local(context: dg.ScheduleEvaluationContext, conn: Connection) -> datetime:
    return context.scheduled_execution_time.astimezone(ZoneInfo(conn.timezone))


def _workdays(cal: CloseCalendar) -> str:
    return ", ".join(_DAYS[d - 1] for d in cal.workdays)


def polling_schedule(conn: Connection, job: Any, name: str) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=name,
        job=job,
        cron_schedule=conn.polling.cron,
        execution_timezone=conn.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            f"Runs the open accounting period of {conn.name} (the month of the tick in "
            f"{conn.timezone}) at cron `{conn.polling.cron}` in that timezone."
        ),
    )
    def _poll(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        return dg.RunRequest(
            partition_key=period_key(_local(context, conn)),
            tags={"connector/trigger": "poll", "connector/connection": conn.name},
        )

    return _poll


def close_schedule(
    conn: Connection,
    job: Any,
    name: str,
    hour: int | None = None,
    what: str = "runs",
    key_prefix: str = "close",
) -> dg.ScheduleDefinition:
    """Nightly at `hour` (default the calendar's), on the close window's business days,
    a run of the prior period; skipped on other days."""
    cal = conn.close
    at = cal.hour if hour is None else hour

    @dg.schedule(
        name=name,
        job=job,
        cron_schedule=f"0 {at} * * *",
        execution_timezone=conn.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            f"During the close: at {at:02d}:00 {conn.timezone} on business days 1 to "
            f"{cal.business_days} of each month ({_workdays(cal)}, holidays excepted), "
            f"{what} the prior accounting period of {conn.name}; other days are skipped."
        ),
    )
    def _close(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        today = _local(context, conn).date()
        nth = close_day(cal, today)
        if nth is None:
            return dg.SkipReason(
                f"{today} is not business day 1..{cal.business_days} of the close window"
            )
        prior = prior_period(today)
        return dg.RunRequest(
            run_key=f"{key_prefix}-{prior}-{today}",
            partition_key=prior,
            tags={"connector/trigger": "close", "connector/connection": conn.name},
        )

    return _close
