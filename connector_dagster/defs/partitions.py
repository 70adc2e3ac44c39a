"""Monthly accounting-period partitions in the timezone of each connection's books,
and the concurrency pools of each connection's APIs."""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import cache
from urllib.parse import urlsplit

import dagster as dg

from connector_dagster.lib.connections import Connection


@cache
def _periods(start: str, timezone: str) -> dg.MonthlyPartitionsDefinition:
    # end_offset=1: the open (current) month is a partition too, for intraday
    # polling. Close schedules name the prior period explicitly instead of
    # relying on "the latest partition".
    return dg.MonthlyPartitionsDefinition(start_date=start, timezone=timezone, end_offset=1)


def period_partitions(conn: Connection) -> dg.MonthlyPartitionsDefinition:
    return _periods(conn.start_period, conn.timezone)


def period_bounds(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """[first day, first day of next month) of the partition being materialized."""
    window = context.partition_time_window
    return window.start.date(), window.end.date()


def period_key(day: date | datetime) -> str:
    return f"{day.year:04d}-{day.month:02d}-01"


def ifs_pool(conn: Connection) -> str:
    """The concurrency pool of the connection's IFS host."""
    return "ifs_" + re.sub(r"[^A-Za-z0-9]+", "_", urlsplit(conn.ifs.base_url).netloc)


def servicetitan_pool(conn: Connection) -> str:
    """The concurrency pool of the connection's ServiceTitan tenant."""
    return f"servicetitan_{conn.servicetitan.tenant_id}"
