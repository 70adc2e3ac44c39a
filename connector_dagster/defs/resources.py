"""Dagster resources: the state store, and the IFS and ServiceTitan clients of a
connection, built from the connections file and the vault."""

from __future__ import annotations

import threading
from typing import Any

import dagster as dg
from pydantic import PrivateAttr

from connector_dagster.lib import connections as conns_lib
from connector_dagster.lib import db
from connector_dagster.lib.connections import Connection
from connector_dagster.lib.ifs import IfsClient, IfsSettings
from connector_dagster.lib.servicetitan import ServiceTitanClient, ServiceTitanSettings
from connector_dagster.lib.store import Store
from connector_dagster.lib.vault import Vault

# Clients are shared per process and connection so that token caches and rate
# limiters are too; they hold no state that must outlive the process.
_clients: dict[tuple[str, str], Any] = {}
_clients_lock = threading.Lock()


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


def ifs_settings(conn: Connection, secrets: dict[str, str]) -> IfsSettings:
    return IfsSettings(
        base_url=conn.ifs.base_url,
        realm=conn.ifs.realm,
        client_id=secrets["client_id"],
        client_secret=secrets["client_secret"],
        name=conn.name,
        page_size=conn.ifs.page_size,
        rate_per_min=conn.ifs.rate_per_min,
        timeout_s=conn.ifs.timeout_s,
        token_margin_s=conn.ifs.token_margin_s,
    )


def servicetitan_settings(conn: Connection, secrets: dict[str, str]) -> ServiceTitanSettings:
    st = conn.servicetitan
    return ServiceTitanSettings(
        api_url=st.api_url,
        auth_url=st.auth_url,
        tenant_id=st.tenant_id,
        app_key=secrets["app_key"],
        client_id=secrets["client_id"],
        client_secret=secrets["client_secret"],
        name=conn.name,
        rate_per_s=st.rate_per_s,
        page_size=st.page_size,
        timeout_s=st.timeout_s,
        token_margin_s=st.token_margin_s,
    )


class Clients(dg.ConfigurableResource):
    """The clients of each connection, credentials read from the vault on first use."""

    def connection(self, name: str) -> Connection:
        conns = conns_lib.load()
        if name not in conns:
            raise dg.Failure(f"connection {name!r} is not in {conns_lib.connections_path()}")
        return conns[name]

    def ifs(self, name: str, vault: Vault) -> IfsClient:
        return self._client(name, "ifs", vault)

    def servicetitan(self, name: str, vault: Vault) -> ServiceTitanClient:
        return self._client(name, "servicetitan", vault)

    def _client(self, name: str, system: str, vault: Vault) -> Any:
        with _clients_lock:
            client = _clients.get((name, system))
            if client is None:
                conn = self.connection(name)
                secrets = vault.require(name, system)
                if system == "ifs":
                    client = IfsClient(ifs_settings(conn, secrets))
                else:
                    client = ServiceTitanClient(servicetitan_settings(conn, secrets))
                _clients[(name, system)] = client
            return client


def reset_clients() -> None:
    """Forget cached clients (after credentials or connections change)."""
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


def build_resources() -> dict[str, Any]:
    from connector_dagster.defs.io import SnapshotIOManager

    return {"state": StateStore(), "clients": Clients(), "io_manager": SnapshotIOManager()}
