"""`mapping_coverage` per connection: what each monthly period would do with the
mappings in force (`connector-dagster mappings coverage` as an asset), per flow the
records that would write and those that would park, grouped by the missing or stale
entry, with counts and money as metadata. Nothing is written to either system or to
the ledger; materialize a period before its first sync, or after a mapping change."""

import dagster as dg

from connector_dagster.engine import catalog, registry
from connector_dagster.engine.connections import Connection
from connector_dagster.engine.resources import resource_key
from connector_dagster.onboarding.coverage import FlowCoverage, as_dicts, as_text, coverage

ASSET = "mapping_coverage"


def markdown(period: str, result: list[FlowCoverage]) -> str:
    """A table of the flows' figures, then each flow's parked records by cause."""
    lines = [
        f"Coverage of {period[:7]} with the mappings in force:",
        "",
        "| flow | records | would write | unchanged | would park |",
        "| --- | ---: | ---: | ---: | ---: |",
        *(
            f"| {f.label} {f.flow} | {f.records} | {f.would_write} | {f.unchanged} | "
            f"{f.would_park} |"
            for f in result
        ),
    ]
    if any(f.groups for f in result):
        lines += ["", "```", as_text([f for f in result if f.groups]), "```"]
    return "\n".join(lines)


def build(conn: Connection) -> dg.Definitions:
    if not any(settings.enabled for settings in conn.flows.values()):
        return dg.Definitions()
    session_key = resource_key(conn.name)

    @dg.asset(
        **catalog.period_report(conn, ASSET, "onboarding"),
        description=(
            f"What each period of {conn.name} would write and park with the mappings in "
            "force, per flow, the parked grouped by the missing or stale mapping entry "
            "(counts and money); a plan of every flow: nothing is written."
        ),
    )
    def _coverage(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        session = getattr(context.resources, session_key).session()
        period = context.partition_key
        result = coverage(session, period)
        per_flow = {
            f"{f.flow}_{what}": getattr(f, what)
            for f in result
            for what in ("would_write", "would_park")
        }
        context.log.info(
            f"coverage of {conn.name} {period[:7]}: "
            + "; ".join(f"{f.flow} {f.would_write} would write, {f.would_park} would park"
                        for f in result)
        )  # fmt: skip
        return dg.MaterializeResult(
            metadata={
                "period": period[:7],
                "would_write": sum(f.would_write for f in result),
                "would_park": sum(f.would_park for f in result),
                **per_flow,
                "report": dg.MetadataValue.md(markdown(period, result)),
                "figures": dg.MetadataValue.json(as_dicts(result)),
            }
        )

    return dg.Definitions(assets=[_coverage])


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(*(build(c) for c in registry.load_connections().values()))
