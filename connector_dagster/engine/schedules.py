"""Schedules shared by the flows: intraday polling of the open period, and the
close cycle that re-materializes the prior period on business days 1..N."""

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg

from connector_dagster.engine.periods import period_key
from connector_dagster.lib.connections import Connection


def business_day_of_month(day: date, holidays: set[str]) -> int | None:
    """1 for the month's first business day, and so on; None on weekends and holidays."""
    if day.weekday() >= 5 or day.isoformat() in holidays:
        return None
    count, cursor = 0, day.replace(day=1)
    while cursor <= day:
        if cursor.weekday() < 5 and cursor.isoformat() not in holidays:
            count += 1
        cursor += timedelta(days=1)
    return count


def polling_schedule(conn: Connection, job: Any, name: str):
    @dg.schedule(
        name=name,
        job=job,
        cron_schedule=conn.polling.cron,
        execution_timezone=conn.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Polls IFS for the open accounting period of {conn.name}.",
    )
    def _poll(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        now = context.scheduled_execution_time.astimezone(ZoneInfo(conn.timezone))
        return dg.RunRequest(
            partition_key=period_key(now),
            tags={"connector/trigger": "poll", "connector/connection": conn.name},
        )

    return _poll


def close_schedule(conn: Connection, job: Any, name: str):
    cal = conn.close

    @dg.schedule(
        name=name,
        job=job,
        cron_schedule=f"0 {cal.hour} 1-{min(28, cal.business_days * 2 + 4)} * 1-5",
        execution_timezone=conn.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            f"Re-materializes the prior accounting period of {conn.name} on business days "
            f"1..{cal.business_days} of the new month."
        ),
    )
    def _close(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        now: datetime = context.scheduled_execution_time.astimezone(ZoneInfo(conn.timezone))
        nth = business_day_of_month(now.date(), set(cal.holidays))
        if nth is None or nth > cal.business_days:
            return dg.SkipReason(f"{now.date()} is not business day 1..{cal.business_days}")
        prior = period_key(now.date().replace(day=1) - timedelta(days=1))
        return dg.RunRequest(
            run_key=f"close-{prior}-{now.date()}",
            partition_key=prior,
            tags={"connector/trigger": "close", "connector/connection": conn.name},
        )

    return _close
