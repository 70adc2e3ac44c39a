"""The Dagster resource of a connection: the one resource a flow's assets ask for.

Each connection gets its own resource key (`resource_key(name)`), so a test or
a deployment can swap one connection's resource without touching the others.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field, PrivateAttr

from connector_dagster.engine.session import Session


def resource_key(connection: str) -> str:
    return f"{connection}_connection"


class ConnectionResource(dg.ConfigurableResource):
    """One connection's session (store, clients, mappings), opened on first use in a step
    and closed after it. The database and the vault's key are set with `dg.EnvVar` (see
    `defs/resources.py`); unset, they are read from the environment when the session opens."""

    connection: str
    database_url: str | None = Field(
        default=None, description="the connector's PostgreSQL (CONNECTOR_DATABASE_URL)"
    )
    master_key: str | None = Field(
        default=None, description="the vault's Fernet key(s) (CONNECTOR_MASTER_KEY)"
    )

    _link: Session | None = PrivateAttr(default=None)

    def session(self) -> Session:
        if self._link is None:
            self._link = Session.open(self.connection, self.database_url, self.master_key)
        return self._link

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._link is not None:
            self._link.close()
            self._link = None
