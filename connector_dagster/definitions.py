"""Assembles the code location: resources and each flow's definitions, per connection."""

from __future__ import annotations

import dagster as dg

from connector_dagster.defs.resources import build_resources
from connector_dagster.lib import connections


def build_defs() -> dg.Definitions:
    conns = connections.load()
    return dg.Definitions(resources=build_resources(conns))


defs = build_defs()
