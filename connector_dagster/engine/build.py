"""The one builder: a flow spec and a connection become that connection's read assets
(each with its blocking pandera check), write asset, job and schedules.

No `from __future__ import annotations` here: Dagster reads the asset functions'
annotations at definition time."""

from collections import Counter
from collections.abc import Iterator
from typing import Any

import dagster as dg

from connector_dagster import systems
from connector_dagster.engine import catalog, flow, registry
from connector_dagster.engine.connections import Connection
from connector_dagster.engine.inbox_sensor import inbox_sensor
from connector_dagster.engine.periods import period_of, period_partitions
from connector_dagster.engine.records import Frames
from connector_dagster.engine.resources import resource_key
from connector_dagster.engine.schedules import close_schedule, polling_schedule
from connector_dagster.engine.sensors import change_sensor
from connector_dagster.engine.spec import FlowSpec, ReadSpec
from connector_dagster.engine.summary import period_summary, summary_metadata
from connector_dagster.engine.sync import WriteStopped

CHECK = "pandera_schema"
RECORD_CHECK = "pandera_records"
FAILURES_SHOWN = 10


def flow_definitions(spec: FlowSpec) -> Any:
    """What a flow folder's `definitions.py` exposes: the flow, built for every
    connection that runs it, when Dagster loads the code location."""

    @dg.definitions
    def defs() -> dg.Definitions:
        conns = registry.load_connections().values()
        return dg.Definitions.merge(
            *(build(spec, conn) for conn in conns if conn.flow(spec.name) is not None)
        )

    return defs


def build(spec: FlowSpec, conn: Connection) -> dg.Definitions:
    """The definitions of `spec` for `conn`, asset keys prefixed by the connection."""
    prefix = conn.name
    reads = [_read_asset(spec, conn, read) for read in spec.reads]
    write = _write_asset(spec, conn)
    job = dg.define_asset_job(
        name=f"{prefix}_{spec.name}_job",
        selection=dg.AssetSelection.assets(*(a.key for a in reads), write.key),
        partitions_def=period_partitions(conn),
        description=f"{spec.label} for {prefix}.",
        tags=catalog.tags(spec, conn),
    )
    schedules = []
    if spec.triggers.poll:
        schedules.append(polling_schedule(conn, job, f"{prefix}_{spec.name}_poll_schedule"))
    if spec.triggers.close:
        schedules.append(close_schedule(conn, job, f"{prefix}_{spec.name}_close_schedule"))
    sensors = [change_sensor(spec, conn, job)] if spec.triggers.change_sensor else []
    if spec.triggers.inbox_events and any(
        systems.get(name).receives_webhooks(block) for name, block in conn.systems.items()
    ):
        sensors.append(inbox_sensor(spec, conn, job))
    return dg.Definitions(assets=[*reads, write], jobs=[job], schedules=schedules, sensors=sensors)


def _read_asset(spec: FlowSpec, conn: Connection, read: ReadSpec) -> dg.AssetsDefinition:
    key = dg.AssetKey([conn.name, read.name])
    link_key = resource_key(conn.name)

    @dg.asset(
        key=key,
        group_name=catalog.group(conn, spec.name),
        tags=catalog.tags(spec, conn),
        owners=catalog.owners(conn),
        partitions_def=period_partitions(conn),
        pool=conn.pool(read.system),
        kinds={read.system},
        ins={dep: dg.AssetIn(key=[conn.name, dep]) for dep in read.deps},
        required_resource_keys={link_key},
        check_specs=[
            dg.AssetCheckSpec(
                CHECK,
                asset=key,
                blocking=True,
                description="Shape of the read (pandera); blocks the write when wrong.",
            ),
            *(
                [
                    dg.AssetCheckSpec(
                        RECORD_CHECK,
                        asset=key,
                        description="Single records (pandera), a warning: the write step "
                        "parks the records it names and writes the others.",
                    )
                ]
                if read.record_check is not None
                else []
            ),
        ],
        description=read.description,
    )
    def _read(
        context: dg.AssetExecutionContext, **upstream: Frames
    ) -> Iterator[dg.Output | dg.AssetCheckResult]:
        link = getattr(context.resources, link_key).link()
        result = flow.read(spec, link, read.name, period_of(context), upstream, context.run_id)
        yield dg.Output(result.frames, metadata=result.metadata)
        problems = read.check(result.frames)
        yield dg.AssetCheckResult(
            check_name=CHECK,
            passed=not problems,
            metadata={"problems": problems[:20], "count": len(problems)},
        )
        if read.record_check is not None:
            records = read.record_check(result.frames) if not problems else []
            yield dg.AssetCheckResult(
                check_name=RECORD_CHECK,
                passed=not records,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"records": records[:50], "count": len(records)},
            )

    return _read


class WriteConfig(dg.Config):
    """Run config of every write asset."""

    plan: bool = False
    """Map, validate and look up as a real run, then show the creates, updates and
    cancellations it would send, with their payloads; send none, change no ledger."""


def _write_asset(spec: FlowSpec, conn: Connection) -> dg.AssetsDefinition:
    link_key = resource_key(conn.name)
    records = spec.record_label
    key = dg.AssetKey([conn.name, spec.write.name])

    @dg.asset(
        key=key,
        group_name=catalog.group(conn, spec.name),
        tags=catalog.tags(spec, conn),
        owners=catalog.owners(conn),
        partitions_def=period_partitions(conn),
        ins={read.name: dg.AssetIn(key=[conn.name, read.name]) for read in spec.reads},
        pool=conn.pool(spec.write.system),
        kinds={spec.write.system},
        required_resource_keys={link_key},
        description=spec.write.description,
        output_required=False,
    )
    def _write(
        context: dg.AssetExecutionContext, config: WriteConfig, **reads: Frames
    ) -> Iterator[dg.MaterializeResult | dg.AssetObservation]:
        link = getattr(context.resources, link_key).link()
        period = context.partition_key
        try:
            result = flow.write(spec, link, period, reads, context.run_id, plan=config.plan)
        except WriteStopped as stopped:
            raise dg.Failure(description=str(stopped), allow_retries=False) from None
        report = result.report
        run: dict[str, Any] = {
            **report.counts(),
            "mapping_version": result.mapping_version,
            "records": result.records,
        }
        if result.notes:
            run["not_written"] = len(result.notes)
            run["not_written_why"] = dg.MetadataValue.json(
                [f"{k}: {note}" for k, note in list(result.notes.items())[:FAILURES_SHOWN]]
            )
        if config.plan:
            yield dg.AssetObservation(
                asset_key=key, partition=period, metadata={**run, **plan_metadata(result)}
            )
            return
        totals = summary_metadata(period_summary(link.store, conn.name, spec.name, period))
        if report.failed:
            sample = [
                f"{k}: {reason}: {msg}"
                for k, (reason, msg) in list(report.failed.items())[:FAILURES_SHOWN]
            ]
            raise dg.Failure(
                description=f"{len(report.failed)} of {result.records} {records} records of "
                f"{period} failed and were parked in failed_records; the others were written. "
                "Fix the cause, then re-run the partition, or replay them: connector-dagster "
                f"failed replay --connection {conn.name} --flow {spec.name} --period "
                f"{period[:7]}",
                metadata={**run, **totals, "failures": dg.MetadataValue.json(sample)},
            )
        yield dg.MaterializeResult(metadata={**run, **totals})

    return _write


def plan_metadata(result: flow.WriteResult) -> dict[str, Any]:
    """The writes a plan would send: counts by action, and each with its payload."""
    counts = Counter(w.action for w in result.planned)
    return {
        "plan": True,
        **{f"would_{action}": counts.get(action, 0) for action in ("create", "update", "cancel")},
        "would_fail": len(result.report.failed),
        "writes": dg.MetadataValue.json([w.as_dict() for w in result.planned]),
        "failures": dg.MetadataValue.json(
            [f"{k}: {reason}: {msg}" for k, (reason, msg) in result.report.failed.items()]
        ),
    }
