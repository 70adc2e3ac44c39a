"""A flow's inbox sensor: turns verified webhook events waiting in the inbox into runs
of the periods they touch.

Each tick reads the unprocessed events of the flow's types (one query when there
are none), asks the flow's source which periods they touch (an invoice event names
its invoice; a job event, the invoices of the job), and requests one run per period
whose run key names the inbox rows it covers. An event is marked processed on a
later tick, once a run with its key exists: a tick lost before its requests were
stored loses nothing, and a repeated tick requests nothing twice (Dagster runs a run
key once). Delivery is at least once; the writes are idempotent.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import dagster as dg

from connector_dagster.engine.connections import Connection
from connector_dagster.engine.periods import period_partitions
from connector_dagster.engine.session import Session
from connector_dagster.engine.spec import FlowSpec
from connector_dagster.lib import inbox

BATCH = 500
RUN_KEY_TAG = "dagster/run_key"


def inbox_sensor(spec: FlowSpec, conn: Connection, job: Any) -> dg.SensorDefinition:
    """`<conn>_<flow>_inbox_sensor`, RUNNING by default."""
    partitions = period_partitions(conn)
    types = spec.triggers.inbox_events

    @dg.sensor(
        name=f"{conn.name}_{spec.name}_inbox_sensor",
        job=job,
        minimum_interval_seconds=15,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Turns {conn.name}'s webhook events ({', '.join(types)}) waiting in the inbox "
            f"into runs of {spec.label} for the periods they touch."
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        with Session.open(conn.name) as session:
            events = inbox.pending(session.store, conn.name, types, BATCH)
            if not events:
                return dg.SkipReason("the inbox has no event waiting")
            source = spec.source(session, session.connection.flow(spec.name))
            touched = source.event_periods(events)
            known = set(partitions.get_partition_keys())
            by_period: dict[str, list[int]] = defaultdict(list)
            settled: list[int] = []
            for event in events:
                periods = touched.get(event.id, set()) & known
                if not periods:
                    settled.append(event.id)  # touches no period this flow syncs
                for period in periods:
                    by_period[period].append(event.id)
            requests, done = [], list(settled)
            for period, ids in sorted(by_period.items()):
                key = f"{spec.name}-{period}-inbox-{min(ids)}-{max(ids)}-{len(ids)}"
                if _run_exists(context.instance, key):
                    done.extend(ids)
                    continue
                requests.append(
                    dg.RunRequest(
                        run_key=key,
                        partition_key=period,
                        tags={
                            "connector/trigger": "webhook",
                            "connector/connection": conn.name,
                            "connector/inbox_events": str(len(ids)),
                        },
                    )
                )
            if done:
                inbox.mark_processed(session.store, set(done), "sensor")
        if not requests:
            return dg.SkipReason(f"{len(done)} event(s) marked processed; their runs exist")
        return dg.SensorResult(run_requests=requests)

    return _sensor


def _run_exists(instance: dg.DagsterInstance, run_key: str) -> bool:
    return bool(instance.get_run_ids(dg.RunsFilter(tags={RUN_KEY_TAG: run_key}), limit=1))
