"""How F1's records are counted when a period is reconciled: each purchase order's
total (lines, tax, shipping) by ServiceTitan vendor and business unit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any

from connector_dagster.defs.purchase_orders.settings import PurchaseOrderSettings
from connector_dagster.engine.records import Period
from connector_dagster.engine.session import Session
from connector_dagster.engine.spec import Figures, Reconciliation, TargetRecord
from connector_dagster.kits.purchase_orders.provenance import marked_order

CENT = Decimal("0.01")


def _dims(vendor: Any, business_unit: Any) -> tuple[str, str, str]:
    return (f"vendor {vendor}", f"business unit {business_unit}", "PO total")


def figures(payload: dict[str, Any]) -> Figures:
    """A mapped PO's total: its lines' quantity x cost, its tax and shipping."""
    lines = sum(
        (Decimal(str(i["quantity"])) * Decimal(str(i["cost"])) for i in payload["items"]),
        Decimal(0),
    )
    total = lines + Decimal(str(payload["tax"])) + Decimal(str(payload["shipping"]))
    return {_dims(payload["vendorId"], payload["businessUnitId"]): total.quantize(CENT)}


def target(
    session: Session, settings: PurchaseOrderSettings, period: Period
) -> Iterator[TargetRecord]:
    """ServiceTitan POs dated in the period that carry this connection's marker and are
    not cancelled, every one (two POs of one IFS order are both counted): (IFS order
    number, PO id, its total)."""
    params = {
        "dateOnOrAfter": datetime.combine(period.start, time(), UTC),
        "dateBefore": datetime.combine(period.end, time(), UTC),
    }
    for po in session.servicetitan.iter_pages("inventory", "purchase-orders", params):
        key = marked_order(po.get("summary"), session.name)
        if key is None or po.get("status") == "Canceled":
            continue
        total = Decimal(str(po["total"])).quantize(CENT)
        yield key, str(po["id"]), {_dims(po["vendorId"], po["businessUnitId"]): total}


RECONCILIATION = Reconciliation(
    dimensions=("ServiceTitan vendor", "business unit", "measure"),
    figures=figures,
    target=target,
)
