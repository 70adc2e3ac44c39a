"""The code location's resources: one per connection (its store, clients and
mappings), and the IO manager that keeps read assets in PostgreSQL. Their settings
come from the environment as `dg.EnvVar`s: the UI names the variables, never shows
their values, and a step whose variable is unset fails naming it."""

from __future__ import annotations

import dagster as dg

from connector_dagster.engine import registry
from connector_dagster.engine.resources import ConnectionResource, resource_key
from connector_dagster.engine.snapshots import SnapshotIOManager
from connector_dagster.lib.settings import DATABASE_URL_VAR, MASTER_KEY_VAR


def build_resources() -> dict[str, dg.ConfigurableResource | dg.ConfigurableIOManager]:
    database_url = dg.EnvVar(DATABASE_URL_VAR)
    resources: dict[str, dg.ConfigurableResource | dg.ConfigurableIOManager] = {
        resource_key(name): ConnectionResource(
            connection=name, database_url=database_url, master_key=dg.EnvVar(MASTER_KEY_VAR)
        )
        for name in registry.load_connections()
    }
    resources["io_manager"] = SnapshotIOManager(database_url=database_url)
    return resources


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources=build_resources())
