"""How F5's records are counted when a period is reconciled: IFS purchase orders, their
lines and line total (quantity x price, exact) by IFS supplier and site."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any

from connector_dagster.defs.st_purchase_orders.settings import RaisedPurchaseOrderSettings
from connector_dagster.defs.st_purchase_orders.target import LINE_KEYS
from connector_dagster.engine.records import Period
from connector_dagster.engine.session import Session
from connector_dagster.engine.spec import Figures, Reconciliation, TargetRecord
from connector_dagster.kits.purchase_orders.provenance import (
    made_from_ifs,
    raised_in_servicetitan,
)
from connector_dagster.systems.ifs import odata

FLOW = "st_purchase_orders"
CANCELLED = "Cancelled"


def _sum(supplier: Any, site: Any, lines: Iterable[tuple[Any, Any]]) -> Figures:
    """One PO under its supplier and site: 1 purchase order, its lines and line total."""
    where = (f"supplier {supplier}", f"site {site}")
    amounts = [Decimal(str(qty)) * Decimal(str(price)) for qty, price in lines]
    return {
        (*where, "purchase orders"): Decimal(1),
        (*where, "lines"): Decimal(len(amounts)),
        (*where, "line total"): sum(amounts, Decimal(0)),
    }


def figures(payload: dict[str, Any]) -> Figures:
    """A mapped IFS PO counted: one PO, its lines, their BuyQtyDue x BuyUnitPrice."""
    header = payload["header"]
    return _sum(
        header["VendorNo"],
        header["Contract"],
        [(line["BuyQtyDue"], line["BuyUnitPrice"]) for line in payload["lines"]],
    )


def _headers(session: Session, settings: RaisedPurchaseOrderSettings, period: Period) -> dict:
    """OrderNo -> (ServiceTitan PO number, header) of the company's IFS POs dated in the
    period that carry this connection's marker and are not cancelled (one query)."""
    field = settings.reference_field
    found: dict[str, tuple[str, Mapping[str, Any]]] = {}
    for row in session.ifs.query(
        settings.headers_set,
        filter=odata.and_(
            odata.eq("Company", session.connection.ifs.company),
            odata.ge("OrderDate", period.start),
            odata.lt("OrderDate", period.end),
        ),
        select=["OrderNo", "VendorNo", "Contract", "Objstate", field],
        orderby=["OrderNo"],
        keys=("OrderNo",),
    ):
        marked = raised_in_servicetitan(row.get(field))
        if marked is None or marked[1] != session.name or row.get("Objstate") == CANCELLED:
            continue
        found[str(row["OrderNo"])] = (marked[0], row)
    return found


def _lines(
    session: Session, settings: RaisedPurchaseOrderSettings, order_nos: list[str]
) -> dict[str, list[tuple[Any, Any]]]:
    """OrderNo -> (BuyQtyDue, BuyUnitPrice) of each active line, read for many POs per
    request (URLs kept within the client's limit)."""
    lines: dict[str, list[tuple[Any, Any]]] = defaultdict(list)
    for row in session.ifs.query_any_of(
        settings.lines_set,
        "OrderNo",
        order_nos,
        select=["BuyQtyDue", "BuyUnitPrice", "Objstate"],
        keys=LINE_KEYS,
    ):
        if row.get("Objstate") != CANCELLED:
            lines[str(row["OrderNo"])].append((row["BuyQtyDue"], row["BuyUnitPrice"]))
    return lines


def _source_keys(session: Session, period: Period, numbers: set[str]) -> dict[str, str]:
    """ServiceTitan PO number -> the ServiceTitan id (the flow's source key): from the
    ledger of the period, else from ServiceTitan's POs of the period (read only when the
    ledger does not know a number). A number two ServiceTitan POs share stays unknown."""
    known: dict[str, set[str]] = defaultdict(set)
    ledger = session.store.ledger_for_partition(session.name, FLOW, period.key)
    for key, entry in ledger.items():
        number = (entry.last_payload or {}).get("number")
        if number is not None:
            known[str(number)].add(key)
    missing = numbers - set(known)
    if missing:
        params = {
            "dateOnOrAfter": datetime.combine(period.start, time(), UTC),
            "dateBefore": datetime.combine(period.end, time(), UTC),
        }
        for po in session.servicetitan.iter_pages("inventory", "purchase-orders", params):
            number = str(po.get("number"))
            if number in missing and not made_from_ifs(po.get("summary")):
                known[number].add(str(po["id"]))
    return {number: next(iter(ids)) for number, ids in known.items() if len(ids) == 1}


def target(
    session: Session, settings: RaisedPurchaseOrderSettings, period: Period
) -> Iterator[TargetRecord]:
    """IFS POs of the period (by OrderDate) that carry this connection's marker and are
    not cancelled, every one (two IFS POs of one ServiceTitan PO are both counted):
    (ServiceTitan PO id, OrderNo, its figures from its active lines). A PO whose marker
    names no ServiceTitan PO of the period is keyed by what it says, so it shows as
    only in the target."""
    headers = _headers(session, settings, period)
    lines = _lines(session, settings, sorted(headers))
    keys = _source_keys(session, period, {number for number, _ in headers.values()})
    for order_no, (number, row) in headers.items():
        key = keys.get(number, f"ST PO number {number!r}")
        yield key, order_no, _sum(row["VendorNo"], row["Contract"], lines[order_no])


RECONCILIATION = Reconciliation(
    dimensions=("IFS supplier", "site", "measure"),
    figures=figures,
    target=target,
)
