"""Where a connection's flow sits in Dagster's catalog: its asset group (connection and
flow), the tags of its assets and runs (flow, connection, the systems it reads and
writes) and the owners the connections file names for the connection."""

from __future__ import annotations

from connector_dagster.engine.connections import Connection
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
