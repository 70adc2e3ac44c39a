"""AP and inventory variance of a period: IFS purchase orders set against ServiceTitan's
AP and inventory bills and its receipts, per vendor and site (`read` reads both systems,
`report` compares, `render` prints)."""

from __future__ import annotations

from connector_dagster.engine.records import Period
from connector_dagster.engine.session import Session
from connector_dagster.kits.variance.read import read_period
from connector_dagster.kits.variance.report import VarianceReport, build


def variance(session: Session, period: Period) -> VarianceReport:
    """The connection's variance report of `period`, read from both systems now."""
    return build(read_period(session, period), session.mappings(), session.name)
