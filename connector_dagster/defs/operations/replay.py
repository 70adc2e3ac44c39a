"""The `replay_failed_records` job: finance's way to replay the failed records of a
period (or of a flow, a reason, some keys) once their cause is fixed.

No `from __future__ import annotations`: Dagster reads the config's and the op's
annotations at definition time."""

from collections.abc import Iterator

import dagster as dg

from connector_dagster.engine import registry
from connector_dagster.engine.records import Period
from connector_dagster.engine.replay import replay
from connector_dagster.engine.session import Session
from connector_dagster.engine.summary import period_summary, summary_metadata
from connector_dagster.lib.settings import ConfigError
from connector_dagster.lib.store import REASONS


class ReplayConfig(dg.Config):
    """Which failed records to replay: a connection's, narrowed by the others."""

    connection: str
    flow: str | None = None
    period: str | None = None
    """YYYY-MM, as finance types it (or the partition key YYYY-MM-01)."""
    reason: str | None = None
    keys: list[str] = []
    """Source keys (e.g. IFS order numbers); empty: every record the filters match."""


def partition_of(period: str | None) -> str | None:
    """`2026-10` or `2026-10-01` -> `2026-10-01`; ConfigError for anything else."""
    if period is None:
        return None
    try:
        return Period.parse(period).key
    except ValueError as exc:
        raise ConfigError(f"period {exc}") from None


def check(config: ReplayConfig) -> None:
    """Unknown names are errors that list the valid ones, never an empty replay."""
    connections = sorted(registry.load_connections())
    if config.connection not in connections:
        raise ConfigError(
            f"unknown connection {config.connection!r}; the connections are {connections}"
        )
    if config.flow is not None:
        registry.flow(config.flow)
    if config.reason is not None and config.reason not in REASONS:
        raise ConfigError(f"unknown reason {config.reason!r}; the reasons are {list(REASONS)}")


def clean_periods(session: Session, results: list) -> Iterator[dg.AssetMaterialization]:
    """A materialization of each replayed period that has no failed record left, with
    the period's totals: the partition turns green, showing all it holds."""
    for result in results:
        summary = period_summary(session.store, session.name, result.flow, result.period)
        if summary.failed:
            continue
        yield dg.AssetMaterialization(
            asset_key=[session.name, registry.flow(result.flow).write.name],
            partition=result.period,
            description=f"Replayed {len(result.replayed)} failed record(s): the period has "
            "none left.",
            metadata={
                **summary_metadata(summary),
                "replayed": len(result.replayed),
                "resolved": len(result.resolved),
                "trigger": "replay",
            },
        )


@dg.op(description="Re-read, re-map and re-write the failed records the config selects.")
def replay_failed_records_op(
    context: dg.OpExecutionContext, config: ReplayConfig
) -> Iterator[dg.AssetMaterialization | dg.Output]:
    try:
        check(config)
        period = partition_of(config.period)
    except ConfigError as exc:
        raise dg.Failure(str(exc)) from None
    remaining: list[str] = []
    with Session.open(config.connection) as session:
        results = replay(session, config.flow, period, config.reason, config.keys, context.run_id)
        for result in results:
            context.log.info(f"replayed {result.as_dict()}")
            remaining += [f"{result.flow} {result.period}: {k}: {why}"
                          for k, why in result.failed_again.items()]  # fmt: skip
            remaining += [f"{result.flow} {result.period}: {k}: no longer in the source"
                          for k in result.gone]  # fmt: skip
        yield from clean_periods(session, results)
    if remaining:
        raise dg.Failure(
            description=f"{len(remaining)} replayed record(s) failed again; they stay in "
            "failed_records with one attempt more",
            metadata={"failures": dg.MetadataValue.json(remaining[:50]), "count": len(remaining)},
        )
    yield dg.Output(None)


@dg.job(
    description="Replay failed records (config: connection, and optionally flow, period "
    "YYYY-MM, reason, keys): each is re-read from its source, mapped with the mappings in "
    "force and written through the write protocol.",
    tags={"connector/trigger": "replay"},
)
def replay_failed_records() -> None:
    replay_failed_records_op()


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(jobs=[replay_failed_records])
