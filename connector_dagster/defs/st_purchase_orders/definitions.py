"""F5's Dagster definitions, built by the engine for every connection that runs it."""

from connector_dagster.defs.st_purchase_orders.spec import SPEC
from connector_dagster.engine.build import flow_definitions

defs = flow_definitions(SPEC)
