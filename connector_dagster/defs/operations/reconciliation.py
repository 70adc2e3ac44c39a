"""`period_reconciliation` per connection: every flow's period counted in the source,
the target and the ledger, with an asset check per flow and period that fails on any
difference; reconciled nightly during the close, after the flows have run.

A period that does not reconcile is red on that period: its checks fail for that
partition, and the materialization fails with the report and a description naming
the period, so the partitions view shows it failed, not materialized."""

import dagster as dg

from connector_dagster.engine import catalog, registry
from connector_dagster.engine.connections import Connection
from connector_dagster.engine.periods import period_partitions
from connector_dagster.engine.reconcile import reconcile
from connector_dagster.engine.reconcile_report import chart_markdown, markdown, verdict
from connector_dagster.engine.resources import resource_key
from connector_dagster.engine.schedules import close_schedule

ASSET = "period_reconciliation"


def _flows(conn: Connection) -> list[str]:
    return [
        name
        for name, spec in sorted(registry.flows().items())
        if spec.reconcile is not None and conn.flow(name) is not None
    ]


def build(conn: Connection) -> dg.Definitions:
    flows = _flows(conn)
    if not flows:
        return dg.Definitions()
    shared = catalog.period_report(conn, ASSET, "reconciliation", after=flows)
    key = shared["key"]
    session_key = resource_key(conn.name)

    @dg.asset(
        **shared,
        output_required=False,
        check_specs=[
            dg.AssetCheckSpec(
                f"{f}_reconciles",
                asset=key,
                partitions_def=period_partitions(conn),
                description=f"{registry.flow(f).label}: source, target and "
                "ledger agree, nothing unmatched, no open failed record (per period).",
            )
            for f in flows
        ],
        description=(
            f"The period of every flow of {conn.name}, counted in the source, the target and "
            "the ledger, by dimension and record by record."
        ),
    )
    def _reconciliation(context: dg.AssetExecutionContext):
        session = getattr(context.resources, session_key).session()
        period = context.partition_key
        results = reconcile(session, period)
        checks = [
            dg.AssetCheckResult(
                check_name=f"{r.flow}_reconciles",
                passed=r.reconciles,
                description=verdict(period, [r]),
                metadata={
                    "period": period[:7],
                    "differences": dg.MetadataValue.json(r.differences[:100]),
                    **{k: v for k, v in r.counts.items()},
                },
            )
            for r in results
        ]
        metadata = {
            "period": period[:7],
            "reconciles": all(r.reconciles for r in results),
            "differences": sum(len(r.differences) for r in results),
            "report": dg.MetadataValue.md(markdown(period, results)),
            "chart": dg.MetadataValue.md(chart_markdown(period, results)),
            "figures": dg.MetadataValue.json([r.as_dict() for r in results]),
        }
        if metadata["reconciles"]:
            # The checks after the materialization, so that they evaluate this one.
            yield dg.MaterializeResult(metadata=metadata)
            yield from checks
            return
        yield from checks
        raise dg.Failure(
            description=verdict(period, results), metadata=metadata, allow_retries=False
        )

    job = dg.define_asset_job(
        name=f"{conn.name}_reconciliation_job",
        selection=dg.AssetSelection.assets(key),
        partitions_def=period_partitions(conn),
        description=f"Reconcile a period of {conn.name}.",
        tags={f"{catalog.TAG_PREFIX}connection": conn.name},
    )
    schedule = close_schedule(
        conn,
        job,
        f"{conn.name}_reconciliation_close_schedule",
        hour=conn.close.reconcile_at,
        what="reconciles",
        key_prefix="reconcile",
    )
    return dg.Definitions(assets=[_reconciliation], jobs=[job], schedules=[schedule])


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(*(build(c) for c in registry.load_connections().values()))
