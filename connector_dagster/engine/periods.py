"""Monthly accounting periods in the timezone of each connection's books."""

from __future__ import annotations

from datetime import date, datetime
from functools import cache

import dagster as dg

from connector_dagster.engine.connections import Connection
from connector_dagster.engine.records import Period


@cache
def _periods(start: str, timezone: str) -> dg.MonthlyPartitionsDefinition:
    # end_offset=1: the open (current) month is a partition too, for intraday
    # polling. Close schedules name the prior period explicitly instead of
    # relying on "the latest partition".
    return dg.MonthlyPartitionsDefinition(start_date=start, timezone=timezone, end_offset=1)


def period_partitions(conn: Connection) -> dg.MonthlyPartitionsDefinition:
    return _periods(conn.start_period, conn.timezone)


def period_of(context: dg.AssetExecutionContext) -> Period:
    """The partition being materialized: key and [first day, first day of next month)."""
    window = context.partition_time_window
    return Period(context.partition_key, window.start.date(), window.end.date())


def period_key(day: date | datetime) -> str:
    return f"{day.year:04d}-{day.month:02d}-01"
