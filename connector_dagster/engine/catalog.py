"""Where a connection's flow sits in Dagster's catalog: its asset group (connection and
flow), the tags of its assets and runs (flow, connection, the systems it reads and
writes) and the owners the connections file names for the connection."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import dagster as dg

from connector_dagster import systems
from connector_dagster.engine import registry
from connector_dagster.engine.connections import Connection
from connector_dagster.engine.periods import period_partitions
from connector_dagster.engine.resources import resource_key
from connector_dagster.engine.spec import FlowSpec

TAG_PREFIX = "connector/"


def group(conn: Connection, name: str) -> str:
    """The asset group of flow (or operation) `name` of `conn`: `sandbox_purchase_orders`."""
    return f"{conn.name}_{name}"


def tags(spec: FlowSpec, conn: Connection) -> dict[str, str]:
    """`connector/flow`, `connector/connection`, `connector/source` and `connector/target`
    (the systems read and written, `-`-joined when several)."""
    return {
        f"{TAG_PREFIX}flow": spec.name,
        f"{TAG_PREFIX}connection": conn.name,
        f"{TAG_PREFIX}source": "-".join(sorted({read.system for read in spec.reads})),
        f"{TAG_PREFIX}target": spec.write.system,
    }


def owners(conn: Connection) -> list[str]:
    return list(conn.owners)


def period_report(
    conn: Connection, name: str, group_name: str, after: Iterable[str] = ()
) -> dict[str, Any]:
    """The arguments every per-period report asset of a connection shares (the
    reconciliation, the variance report, the mappings' coverage): its key
    `<connection>/<name>`, its group, tag and owners, the connection's periods, its
    session resource, the systems it reads, and as dependencies the write assets of the
    flows it comes `after`."""
    return {
        "key": dg.AssetKey([conn.name, name]),
        "group_name": group(conn, group_name),
        "tags": {f"{TAG_PREFIX}connection": conn.name},
        "owners": owners(conn),
        "partitions_def": period_partitions(conn),
        "deps": [dg.AssetKey([conn.name, registry.flow(f).write.name]) for f in after],
        "required_resource_keys": {resource_key(conn.name)},
        "kinds": set(systems.names()),
    }
