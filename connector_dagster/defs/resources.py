"""The code location's resources: one per connection (its store, clients and
mappings), and the IO manager that keeps read assets in PostgreSQL."""

from __future__ import annotations

import dagster as dg

from connector_dagster.engine import registry
from connector_dagster.engine.resources import ConnectionResource, resource_key
from connector_dagster.engine.snapshots import SnapshotIOManager


def build_resources() -> dict[str, dg.ConfigurableResource | dg.ConfigurableIOManager]:
    resources: dict[str, dg.ConfigurableResource | dg.ConfigurableIOManager] = {
        resource_key(name): ConnectionResource(connection=name)
        for name in registry.load_connections()
    }
    resources["io_manager"] = SnapshotIOManager()
    return resources


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources=build_resources())
