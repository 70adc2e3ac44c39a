"""`ap_inventory_variance` per connection: a period's IFS purchase orders set against
ServiceTitan's AP and inventory bills and receipts, per vendor and site, with the
figures as metadata and the report as Markdown (the variance kit computes it; the CLI's
`variance` prints the same report)."""

import dagster as dg

from connector_dagster.engine import catalog, registry
from connector_dagster.engine.connections import Connection
from connector_dagster.engine.periods import period_of
from connector_dagster.engine.resources import resource_key
from connector_dagster.kits.variance import variance
from connector_dagster.kits.variance.render import markdown

ASSET = "ap_inventory_variance"
FLOWS = ("purchase_orders", "st_purchase_orders", "bills")
"""The flows whose records the report sets against each other: one is enough for it."""
MARKDOWN_ROWS = 50
"""Rows shown per list in the Markdown metadata; the CLI's CSV has them all."""


def build(conn: Connection) -> dg.Definitions:
    flows = [f for f in FLOWS if f in registry.flows() and conn.flow(f) is not None]
    if not flows:
        return dg.Definitions()
    session_key = resource_key(conn.name)

    @dg.asset(
        **catalog.period_report(conn, ASSET, "reconciliation", after=flows),
        description=(
            f"AP and inventory variance of a period of {conn.name}: IFS purchase order lines "
            "against ServiceTitan's bills and receipts (quantity and price variance per line), "
            "bills without a PO, POs received but not billed, per vendor and site; totals tie "
            "to the bills' amounts."
        ),
    )
    def _variance(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        session = getattr(context.resources, session_key).session()
        report = variance(session, period_of(context))
        context.log.info(report.summary())
        figures = {
            name: float(value) if not isinstance(value, int) else value
            for name, value in report.totals.items()
        }
        return dg.MaterializeResult(
            metadata={
                "period": report.period,
                "summary": report.summary(),
                "ties": report.ties,
                **figures,
                "lines_with_variance": len(report.variances()),
                "report": dg.MetadataValue.md(markdown(report, MARKDOWN_ROWS)),
                "by_vendor_and_site": dg.MetadataValue.json(report.as_dict()["groups"]),
            }
        )

    return dg.Definitions(assets=[_variance])


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(*(build(c) for c in registry.load_connections().values()))
