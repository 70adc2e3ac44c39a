"""Alerts: a run-failure sensor records every failed run with its connection, flow and
period in `connector.run_alerts`, and posts it to a Slack-compatible webhook when
`CONNECTOR_ALERT_WEBHOOK_URL` is set. Never a payload or a secret."""

import logging
import os
from collections.abc import Sequence

import dagster as dg
import httpx

from connector_dagster.engine import registry
from connector_dagster.lib import db
from connector_dagster.lib.settings import ALERT_WEBHOOK_VAR

log = logging.getLogger(__name__)
MESSAGE_CHARS = 600


def describe(
    run: dg.DagsterRun, failed_steps: Sequence[str] = ()
) -> tuple[str | None, str | None, str | None]:
    """(connection, flow, period) of a run, from its tags, job name, assets or failed
    steps (a step key is `<connection>__<asset>`, or `<connection>__<write asset>.<asset>`
    for a step of a flow's graph)."""
    period = run.tags.get("dagster/partition")
    connection = run.tags.get("connector/connection")
    keys = {tuple(k.path) for k in run.asset_selection or ()}
    keys |= {
        (conn, asset.rsplit(".", 1)[-1])
        for conn, asset in (step.split("__", 1) for step in failed_steps if "__" in step)
    }
    for name, spec in registry.flows().items():
        assets = {*(r.name for r in spec.reads), spec.write.name}
        for conn in registry.load_connections():
            if run.job_name == f"{conn}_{name}_job" or any(
                k[0] == conn and k[-1] in assets for k in keys
            ):
                return connection or conn, name, period
    return connection, None, period


def record(run: dg.DagsterRun, message: str, failed_steps: Sequence[str] = ()) -> str:
    """Store the alert (once per run) and post it when a webhook is configured; returns
    the text posted."""
    connection, flow, period = describe(run, failed_steps)
    where = " ".join(p for p in (connection, flow, period and period[:7]) if p) or run.job_name
    text = f"connector_dagster: run {run.run_id[:8]} of {run.job_name} failed ({where}): {message}"
    text = text[:MESSAGE_CHARS]
    url = os.environ.get(ALERT_WEBHOOK_VAR)
    posted, error = False, None
    if url:
        try:
            httpx.post(url, json={"text": text}, timeout=10).raise_for_status()
            posted = True
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: the alert webhook did not take it"
            log.warning("alert for run %s not posted: %s", run.run_id, error)
    with db.transaction(db.database_url()) as cur:
        cur.execute(
            """INSERT INTO connector.run_alerts
                   (run_id, job, connection, flow, partition_key, message, posted, post_error)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (run_id) DO NOTHING""",
            (run.run_id, run.job_name, connection, flow, period, text, posted, error),
        )
    return text


@dg.run_failure_sensor(
    name="connector_run_failure_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records every failed run of this code location (connection, flow, period, "
    f"what failed) and posts it to ${ALERT_WEBHOOK_VAR} when that is set.",
)
def run_failure_alerts(context: dg.RunFailureSensorContext) -> None:
    steps = context.get_step_failure_events()
    first = _what_failed(steps[0]) if steps else context.failure_event.message
    message = (first or "failed").splitlines()[0]
    record(context.dagster_run, message, [e.step_key for e in steps if e.step_key])


def _what_failed(step: dg.DagsterEvent) -> str | None:
    """What the step said when it failed (a write step: how many records failed and
    what to do), else its error, else Dagster's `Execution of step ... failed.`"""
    data = step.step_failure_data
    if data.user_failure_data is not None and data.user_failure_data.description:
        return data.user_failure_data.description
    if data.error is not None:
        return data.error.message
    return step.message


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(sensors=[run_failure_alerts])
