"""A flow's change sensor: polls its source for records changed since a cursor, in
any period, and requests one run of each period that has changes."""

from __future__ import annotations

from typing import Any

import dagster as dg

from connector_dagster.engine.connections import Connection
from connector_dagster.engine.periods import period_partitions
from connector_dagster.engine.protocols import ChangePoll
from connector_dagster.engine.session import Session
from connector_dagster.engine.spec import FlowSpec


def change_sensor(spec: FlowSpec, conn: Connection, job: Any) -> dg.SensorDefinition:
    """`<conn>_<flow>_change_sensor`, RUNNING by default. The cursor is the source's own
    (an IFS History Log id, say); a run's key names the period and the cursor it
    covers, so a repeated tick requests nothing twice."""
    partitions = period_partitions(conn)

    @dg.sensor(
        name=f"{conn.name}_{spec.name}_change_sensor",
        job=job,
        minimum_interval_seconds=conn.polling.change_interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Asks {conn.name}'s source of {spec.label} what changed since the last tick "
            "(one request when nothing did) and runs each period, however old, that has "
            "changed records."
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        with Session.open(conn.name) as session:
            source: ChangePoll = spec.source(session, session.connection.flow(spec.name))
            found = source.changes(context.cursor)
        known = set(partitions.get_partition_keys())
        periods = {p: n for p, n in found.periods.items() if p in known}
        if not periods:
            return dg.SensorResult(skip_reason=_nothing(found, context.cursor), cursor=found.cursor)
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=f"{spec.name}-{period}-changes-to-{found.cursor}",
                    partition_key=period,
                    tags={
                        "connector/trigger": "change",
                        "connector/connection": conn.name,
                        "connector/changed_records": str(count),
                    },
                )
                for period, count in sorted(periods.items())
            ],
            cursor=found.cursor,
        )

    return _sensor


def _nothing(found: Any, cursor: str | None) -> str:
    if cursor is None:
        return f"first tick: changes are polled from now on (cursor {found.cursor})"
    if found.periods:
        return f"changes only in periods before the first one: {sorted(found.periods)}"
    return "nothing changed"
