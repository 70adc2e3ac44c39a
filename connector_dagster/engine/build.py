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
from connector_dagster.engine.money import by_measure, money_metadata
from connector_dagster.engine.periods import period_of, period_partitions
from connector_dagster.engine.records import Frames
from connector_dagster.engine.resources import resource_key
from connector_dagster.engine.schedules import close_schedule, polling_schedule
from connector_dagster.engine.sensors import change_sensor
from connector_dagster.engine.spec import FlowSpec, ReadSpec
from connector_dagster.engine.summary import (
    THEN,
    PeriodSummary,
    period_summary,
    summary_metadata,
)
from connector_dagster.engine.sync import WriteStopped
from connector_dagster.lib.settings import run_link

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
    assets = flow_assets(spec, conn)
    job = dg.define_asset_job(
        name=f"{prefix}_{spec.name}_job",
        selection=dg.AssetSelection.assets(*assets.keys),
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
    return dg.Definitions(assets=[assets], jobs=[job], schedules=schedules, sensors=sensors)


def flow_assets(spec: FlowSpec, conn: Connection) -> dg.AssetsDefinition:
    """The flow's read assets and its write asset as one graph that is never split:
    whatever a person selects of it (the write asset alone, say) materializes the
    reads with it, so a period is always written from what was just read. Each read
    and the write stay steps of their own, with their own pools; a re-execution from
    failure re-runs only the failed step. The graph is named after the write asset,
    whose run config (`plan`) it takes."""
    prefix = conn.name
    partitions = period_partitions(conn)
    name = dg.AssetKey([prefix, spec.write.name]).to_python_identifier()
    reads = {read.name: _read_op(spec, conn, read) for read in spec.reads}
    write = _write_op(spec, conn)
    checks = [check for read in spec.reads for check in _check_specs(conn, read)]
    keys = {read.name: dg.AssetKey([prefix, read.name]) for read in spec.reads}
    keys[spec.write.name] = dg.AssetKey([prefix, spec.write.name])
    system_of = {read.name: read.system for read in spec.reads} | {
        spec.write.name: spec.write.system
    }
    descriptions = {read.name: read.description for read in spec.reads}
    descriptions[spec.write.name] = spec.write.description
    deps = {read.name: {keys[d] for d in read.deps} for read in spec.reads}
    deps[spec.write.name] = {keys[read.name] for read in spec.reads}

    @dg.graph(
        name=name,
        out={out: dg.GraphOut() for out in [*keys, *(c.get_python_identifier() for c in checks)]},
        config=dg.ConfigMapping(
            config_fn=lambda c: {spec.write.name: {"config": c}},
            config_schema={"plan": dg.Field(bool, default_value=False, description=PLAN_HELP)},
        ),
    )
    def _flow() -> dict[str, Any]:
        frames: dict[str, Any] = {}
        results: dict[str, Any] = {}
        for read in spec.reads:
            outputs = reads[read.name].alias(read.name)(**{d: frames[d] for d in read.deps})
            frames[read.name] = results[read.name] = outputs.frames
            for check in _check_specs(conn, read):
                results[check.get_python_identifier()] = getattr(outputs, check.name)
        results[spec.write.name] = write.alias(spec.write.name)(**frames)
        return results

    return dg.AssetsDefinition.from_graph(
        _flow,
        keys_by_output_name=keys,
        internal_asset_deps=deps,
        partitions_def=partitions,
        group_name=catalog.group(conn, spec.name),
        can_subset=False,
        check_specs=checks,
        descriptions_by_output_name=descriptions,
        tags_by_output_name={
            o: {**catalog.tags(spec, conn), f"dagster/kind/{system}": ""}
            for o, system in system_of.items()
        },
        owners_by_output_name={o: catalog.owners(conn) for o in system_of},
    )


def _check_specs(conn: Connection, read: ReadSpec) -> list[dg.AssetCheckSpec]:
    """A read's pandera checks, evaluated per period."""
    key = dg.AssetKey([conn.name, read.name])
    specs = [
        dg.AssetCheckSpec(
            CHECK,
            asset=key,
            blocking=True,
            partitions_def=period_partitions(conn),
            description="Shape of the read (pandera); blocks the write when wrong.",
        )
    ]
    if read.record_check is not None:
        specs.append(
            dg.AssetCheckSpec(
                RECORD_CHECK,
                asset=key,
                partitions_def=period_partitions(conn),
                description="Single records (pandera), a warning: the write step parks the "
                "records it names and writes the others.",
            )
        )
    return specs


def _read_op(spec: FlowSpec, conn: Connection, read: ReadSpec) -> dg.OpDefinition:
    key = dg.AssetKey([conn.name, read.name])
    session_key = resource_key(conn.name)
    outs = {"frames": dg.Out()} | {
        c.name: dg.Out(is_required=False) for c in _check_specs(conn, read)
    }

    @dg.op(
        name=f"{key.to_python_identifier()}__read",
        ins={dep: dg.In() for dep in read.deps},
        out=outs,
        pool=conn.pool(read.system),
        required_resource_keys={session_key},
        description=read.description,
    )
    def _read(
        context: dg.OpExecutionContext, **upstream: Frames
    ) -> Iterator[dg.Output | dg.AssetCheckResult]:
        session = getattr(context.resources, session_key).session()
        period = period_of(context)
        result = flow.read(spec, session, read.name, period, upstream, context.run_id)
        frames = {**upstream, read.name: result.frames}
        metadata = {**result.metadata, **read_money(spec, session, frames, period.key)}
        yield dg.Output(result.frames, output_name="frames", metadata=metadata)
        problems = read.check(result.frames)
        yield dg.AssetCheckResult(
            asset_key=key,
            check_name=CHECK,
            passed=not problems,
            description=None if not problems else f"{len(problems)} shape problem(s) in "
            f"{period.key[:7]}: {problems[0]}",
            metadata={"period": period.key[:7], "problems": problems[:20],
                      "count": len(problems)},
        )  # fmt: skip
        if read.record_check is not None:
            records = read.record_check(result.frames) if not problems else []
            yield dg.AssetCheckResult(
                asset_key=key,
                check_name=RECORD_CHECK,
                passed=not records,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"period": period.key[:7], "records": records[:50],
                          "count": len(records)},
            )  # fmt: skip

    return _read


PLAN_HELP = (
    "Map, validate and look up as a real run, then show the creates, updates and "
    "cancellations it would send, with their payloads; send none, change no ledger."
)
PLAN_TAG = "connector/plan"
"""Run tag of a plan (a dry run), so the Runs list tells it apart."""


class WriteConfig(dg.Config):
    """Run config of every write asset."""

    plan: bool = False
    """Map, validate and look up as a real run, then show the creates, updates and
    cancellations it would send, with their payloads; send none, change no ledger."""


def _write_op(spec: FlowSpec, conn: Connection) -> dg.OpDefinition:
    session_key = resource_key(conn.name)
    records = spec.record_label
    key = dg.AssetKey([conn.name, spec.write.name])

    @dg.op(
        name=f"{key.to_python_identifier()}__write",
        ins={read.name: dg.In() for read in spec.reads},
        out={"written": dg.Out(is_required=False)},
        pool=conn.pool(spec.write.system),
        required_resource_keys={session_key},
        description=spec.write.description,
    )
    def _write(
        context: dg.OpExecutionContext, config: WriteConfig, **reads: Frames
    ) -> Iterator[dg.Output | dg.AssetObservation]:
        session = getattr(context.resources, session_key).session()
        period = context.partition_key
        if config.plan:
            context.instance.add_run_tags(context.run_id, {PLAN_TAG: "true"})
        try:
            result = flow.write(spec, session, period, reads, context.run_id, plan=config.plan)
        except WriteStopped as stopped:
            raise dg.Failure(description=str(stopped), allow_retries=False) from None
        report = result.report
        run: dict[str, Any] = {
            "mapping_version": result.mapping_version,
            **record_counts(result),
        }
        if result.notes:
            run["not_written"] = len(result.notes)
            run["not_written_why"] = dg.MetadataValue.json(
                [f"{k}: {note}" for k, note in list(result.notes.items())[:FAILURES_SHOWN]]
            )
        if config.plan:
            yield dg.AssetObservation(
                asset_key=key,
                partition=period,
                description=f"Plan (dry run) of {period[:7]}: nothing was sent.",
                metadata={**run, **plan_metadata(result)},
            )
            context.log.info(plan_line(conn.name, spec.name, period, result))
            return
        run = {**report.counts(), **run}
        summary = period_summary(session.store, conn.name, spec.name, period)
        totals = {
            **summary_metadata(summary),
            **ledger_money(spec, session, period, result.upserts),
            "what_counts": COUNTS_HELP,
        }
        if report.failed:
            description = failure_line(conn.name, spec.name, records, period, result, summary)
            # On the partition itself (its latest event when it was never materialized):
            # each open failed record with its reason, its fix and what to do then.
            yield dg.AssetObservation(
                asset_key=key,
                partition=period,
                description=description,
                metadata=failed_records_shown(summary),
            )
            raise dg.Failure(
                description=description,
                metadata={**run, **totals, **failed_metadata(report.failed)},
                allow_retries=False,
            )
        context.log.info(outcome_line(conn.name, spec.name, period, report, context.run_id))
        yield dg.Output(None, output_name="written", metadata={**run, **totals})

    return _write


def failure_line(
    connection: str, flow_name: str, records: str, period: str, result: flow.WriteResult,
    summary: PeriodSummary,
) -> str:  # fmt: skip
    """A failed write in a few lines a person reads: how many, why, the fix, what next."""
    failed = result.report.failed
    reasons = Counter(reason for reason, _ in failed.values())
    why = ", ".join(f"{n} {reason}" for reason, n in reasons.most_common())
    first_message = next(iter(failed.values()))[1]
    return (
        f"{len(failed)} of {result.records} {records} records of {period} failed and were "
        f"parked in failed_records ({why}); the others were written. {len(summary.failed)} "
        f"failed record(s) open in {period[:7]}, each with its fix (the period's events, "
        "failed_records); "
        f"the first: {first_message}. Fix the cause, then re-run the period, or replay "
        f"them: connector-dagster failed replay --connection {connection} --flow "
        f"{flow_name} --period {period[:7]}"
    )


COUNTS_HELP = (
    "source_records: the period's records to be in the target (what `reconcile` counts "
    "in the source); cancellations: records to cancel in the target (cancelled or gone "
    "in the source); links: records the opposite flow made, linked and never sent back; "
    "created .. failed: what this run did with them; period_records: every ledger row "
    "of the period to date (synced, failed, pending; cancelled records included); "
    "source/written <measure>: the figures `reconcile` compares, of this run's mapped "
    "records and of those synced in the ledger."
)


def record_counts(result: flow.WriteResult) -> dict[str, Any]:
    """The run's records by what they are, named as `reconcile` names them."""
    return {
        "source_records": result.ops.get("upsert", 0),
        "cancellations": result.ops.get("cancel", 0),
        "links": result.ops.get("link", 0),
        **money_metadata("source", result.source_money),
    }


def ledger_money(spec: FlowSpec, session: Any, period: str, keys: frozenset[str]) -> dict[str, Any]:
    """The figures of the period's records synced in the ledger (of `keys`, the records
    still to be in the target), as `reconcile` counts the ledger."""
    rows = session.store.synced_payloads(session.name, spec.name, period)
    payloads = (payload for key, payload in rows if key in keys)
    return money_metadata("written", by_measure(spec, payloads))


def read_money(
    spec: FlowSpec, session: Any, reads: dict[str, Frames], period: str
) -> dict[str, Any]:
    """The period's records mapped now, their figures per measure, once every read of the
    flow is at hand (on the last read); records that cannot be mapped are counted."""
    if set(reads) != {r.name for r in spec.reads} or spec.reconcile is None:
        return {}
    settings = flow.settings_of(spec, session)
    items = spec.source(session, settings).items(reads)
    maps = session.mappings()
    counts = {"source_records": 0, "unmapped_records": 0}

    def payloads() -> Iterator[dict[str, Any]]:
        """Each item mapped on its own and let go: a large period is never held
        mapped all at once (its payloads are summed as they come)."""
        while items:
            item = items.pop()
            for record in flow.to_records(spec, [item], maps, settings, period):
                if record.op == "upsert":
                    counts["source_records"] += 1
                    if record.payload is None:
                        counts["unmapped_records"] += 1
                    elif record.payload:
                        yield record.payload

    money = money_metadata("source", by_measure(spec, payloads()))
    return {**counts, **money}


def failed_records_shown(summary: PeriodSummary) -> dict[str, Any]:
    """The period's open failed records as metadata rows: record -> reason: message (the
    fix); then what to do. The first FAILURES_SHOWN, and the count."""
    rows = {
        f.source_key: f"{f.reason}: {f.message}. Then: {THEN.get(f.reason, 'replay')}"
        for f in summary.failed[:FAILURES_SHOWN]
    }
    return {"period_failed": len(summary.failed), **rows}


def failed_metadata(failed: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """This run's failures as JSON lines (key: reason: message with its fix)."""
    return {
        "failures": dg.MetadataValue.json(
            [f"{k}: {reason}: {msg}" for k, (reason, msg) in list(failed.items())[:FAILURES_SHOWN]]
        ),
    }


def outcome_line(connection: str, flow_name: str, period: str, report: Any, run_id: str) -> str:
    """What a write did, in one line (the shell's `dagster asset materialize` prints it)."""
    counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in report.counts().items() if v)
    done = counts or "nothing to write"
    return f"{connection} {flow_name} {period[:7]}: {done}; run {run_link(run_id)}"


def plan_line(connection: str, flow_name: str, period: str, result: flow.WriteResult) -> str:
    """What a plan would do, in one line."""
    counts = Counter(w.action for w in result.planned)
    would = ", ".join(f"{counts.get(a, 0)} {a}" for a in ("create", "update", "cancel"))
    return (
        f"plan of {connection} {flow_name} {period[:7]}: would {would}, "
        f"{len(result.report.failed)} would fail; nothing was sent"
    )


def plan_metadata(result: flow.WriteResult) -> dict[str, Any]:
    """The writes a plan would send: counts by action, and each with its payload."""
    counts = Counter(w.action for w in result.planned)
    return {
        "plan": True,
        **{f"would_{action}": counts.get(action, 0) for action in ("create", "update", "cancel")},
        "would_fail": len(result.report.failed),
        "unchanged": len(result.report.skipped),
        "writes": dg.MetadataValue.json([w.as_dict() for w in result.planned]),
        "failures": dg.MetadataValue.json(
            [f"{k}: {reason}: {msg}" for k, (reason, msg) in result.report.failed.items()]
        ),
    }
