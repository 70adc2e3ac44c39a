"""Flow F5: purchase orders raised in ServiceTitan flow into IFS, looked up by their
number before each create; F1's purchase orders are never sent back."""

from __future__ import annotations

from connector_dagster.defs.st_purchase_orders import schema
from connector_dagster.defs.st_purchase_orders.mapping import TABLES, map_item
from connector_dagster.defs.st_purchase_orders.reconcile import FLOW, RECONCILIATION
from connector_dagster.defs.st_purchase_orders.settings import RaisedPurchaseOrderSettings
from connector_dagster.defs.st_purchase_orders.source import (
    READ,
    ServiceTitanRaisedPurchaseOrders,
)
from connector_dagster.defs.st_purchase_orders.target import IfsRaisedPurchaseOrders
from connector_dagster.engine.spec import FlowSpec, ReadSpec, Triggers, WriteSpec

SPEC = FlowSpec(
    name=FLOW,
    label="F5: ServiceTitan purchase orders into IFS",
    record_label="ServiceTitan PO",
    settings=RaisedPurchaseOrderSettings,
    reads=(
        ReadSpec(
            READ,
            "servicetitan",
            "Purchase orders raised in ServiceTitan in the period (by PO date), with their "
            "items; those created from IFS by F1 are left out.",
            check=schema.validate,
        ),
    ),
    write=WriteSpec(
        "ifs_purchase_orders_raised",
        "ifs",
        "The period's syncable ServiceTitan purchase orders as IFS purchase orders (header "
        "and lines on /int/), looked up by number before each create, updated with If-Match.",
    ),
    source=ServiceTitanRaisedPurchaseOrders,
    target=IfsRaisedPurchaseOrders,
    map=map_item,
    tables=TABLES,
    reconcile=RECONCILIATION,
    amounts=schema.AMOUNTS,
    triggers=Triggers(poll=True, close=True, change_sensor=True),
)
