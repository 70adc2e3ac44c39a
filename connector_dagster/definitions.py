"""Assembles the code location: shared resources, and each flow's definitions per connection."""

from __future__ import annotations

import dagster as dg

from connector_dagster.defs.purchase_orders.assets import build as build_purchase_orders
from connector_dagster.defs.resources import build_resources
from connector_dagster.lib import connections


def build_defs() -> dg.Definitions:
    per_connection = [build_purchase_orders(conn) for conn in connections.load().values()]
    return dg.Definitions.merge(dg.Definitions(resources=build_resources()), *per_connection)


defs = build_defs()
