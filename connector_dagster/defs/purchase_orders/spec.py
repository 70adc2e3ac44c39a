"""Flow F1: purchase orders created or changed in IFS flow into ServiceTitan procurement."""

from __future__ import annotations

from connector_dagster.defs.purchase_orders import schema
from connector_dagster.defs.purchase_orders.mapping import map_item
from connector_dagster.defs.purchase_orders.reconcile import RECONCILIATION
from connector_dagster.defs.purchase_orders.settings import PurchaseOrderSettings
from connector_dagster.defs.purchase_orders.source import READ, IfsPurchaseOrders
from connector_dagster.defs.purchase_orders.target import ServiceTitanPurchaseOrders
from connector_dagster.engine.live import LiveCheck
from connector_dagster.engine.spec import FlowSpec, ReadSpec, Triggers, WriteSpec
from connector_dagster.kits.master import ST_SKUS, ST_VENDORS
from connector_dagster.kits.purchase_orders.tables import TABLES

SPEC = FlowSpec(
    name="purchase_orders",
    label="F1: IFS purchase orders into ServiceTitan",
    record_label="PO",
    settings=PurchaseOrderSettings,
    reads=(
        ReadSpec(
            READ,
            "ifs",
            "IFS purchase orders of the period (by order date), headers and lines, with "
            "their ETags.",
            check=schema.validate,
        ),
    ),
    write=WriteSpec(
        "servicetitan_purchase_orders",
        "servicetitan",
        "The period's syncable IFS purchase orders, created, updated or cancelled in "
        "ServiceTitan procurement through the write protocol.",
    ),
    source=IfsPurchaseOrders,
    target=ServiceTitanPurchaseOrders,
    map=map_item,
    tables=TABLES,
    live=(LiveCheck("vendors", "vendor", ST_VENDORS), LiveCheck("parts", "part", ST_SKUS)),
    reconcile=RECONCILIATION,
    amounts=schema.AMOUNTS,
    triggers=Triggers(poll=True, close=True, change_sensor=True),
)
