"""The example flow's Dagster definitions, exactly as a flow folder declares them."""

from connector_dagster.engine.build import flow_definitions

from .spec import SPEC

defs = flow_definitions(SPEC)
