"""Dagster resources: the state store and the vault, wired from the environment."""

from __future__ import annotations

from typing import Any

import dagster as dg
from pydantic import PrivateAttr

from connector_dagster.lib import connections as conns_lib
from connector_dagster.lib import db
from connector_dagster.lib.connections import Connection
from connector_dagster.lib.store import Store
from connector_dagster.lib.vault import Vault


class StateStore(dg.ConfigurableResource):
    """The connector's PostgreSQL state. The URL comes from CONNECTOR_DATABASE_URL,
    or the embedded server when it is unset."""

    _store: Store | None = PrivateAttr(default=None)

    def store(self) -> Store:
        if self._store is None:
            self._store = Store(db.database_url())
        return self._store

    def vault(self) -> Vault:
        return Vault(self.store())

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._store is not None:
            self._store.close()


class ConnectionsResource(dg.ConfigurableResource):
    """The connections file (CONNECTOR_CONNECTIONS_FILE or the project's default)."""

    def get(self, name: str) -> Connection:
        return conns_lib.load()[name]


def build_resources(conns: dict[str, Connection]) -> dict[str, Any]:
    return {"state": StateStore(), "connections": ConnectionsResource()}
