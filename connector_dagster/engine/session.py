"""A connection at run time: its store, a client per system it reaches (credentials
from the vault, built on first use; their rate limits shared by every process through
the store's database) and its mappings. One per step; closed after it."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from connector_dagster import systems
from connector_dagster.engine import registry
from connector_dagster.engine.connections import Connection
from connector_dagster.lib import db, mapping
from connector_dagster.lib.leases import LeaseTerms
from connector_dagster.lib.mapping import Mappings
from connector_dagster.lib.store import Store
from connector_dagster.systems import ClientContext
from connector_dagster.systems.vault import Vault, load_keys

S = TypeVar("S")

STORE_CONNECTIONS = 20
"""Enough for a write step's writer threads, its checks and its leases at once."""


class Session:
    """Everything a flow's source and target need of one connection."""

    def __init__(
        self,
        connection: Connection,
        store: Store,
        *,
        owns_store: bool = False,
        master_key: str | None = None,
    ) -> None:
        self.connection = connection
        self.store = store
        self._owns_store = owns_store
        self._clients: dict[str, Any] = {}
        self._master_key = master_key

    @classmethod
    def open(
        cls, name: str, database_url: str | None = None, master_key: str | None = None
    ) -> Session:
        """The connection `name` of the connections file, on the connector's database
        (`database_url`, else CONNECTOR_DATABASE_URL); the vault's key is `master_key`,
        else CONNECTOR_MASTER_KEY."""
        url = db.validate_url(database_url) if database_url else db.database_url()
        store = Store(url, max_connections=STORE_CONNECTIONS)
        return cls(registry.connection(name), store, owns_store=True, master_key=master_key)

    @property
    def name(self) -> str:
        return self.connection.name

    def vault(self) -> Vault:
        return Vault(self.store, load_keys(self._master_key))

    def client(self, system: str) -> Any:
        """The client of `system` for this connection, built on first use with the
        connection's block and the system's credentials from the vault."""
        if system not in self._clients:
            spec = systems.get(system)
            secrets = self.vault().require(self.name, system, spec.secrets)
            context = ClientContext(self.name, self.store.url)
            self._clients[system] = spec.client(self.connection.system(system), secrets, context)
        return self._clients[system]

    def __getattr__(self, name: str) -> Any:
        """`session.ifs`, `session.servicetitan`: the client of each registered system."""
        if name.startswith("_") or name not in systems.registered():
            raise AttributeError(name)
        return self.client(name)

    def lease_terms(self) -> LeaseTerms:
        """The bound of this connection's write steps: its lease and renewal, and the
        longest a request to either system can be on its way (its timeouts)."""
        conn = self.connection
        in_flight = max(block.timeouts.in_flight_s for block in conn.systems.values())
        return LeaseTerms(conn.leases.ttl_s, conn.leases.renew_s, in_flight)

    def mappings(self) -> Mappings:
        """The mappings in force: the connection's file is loaded first if its version is new."""
        tables = registry.tables()
        mapping.ensure_loaded(self.store, self.name, self.connection.mappings, tables)
        return mapping.load(self.store, self.name, tables)

    def close(self) -> None:
        while self._clients:
            self._clients.popitem()[1].close()
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FlowPart(Generic[S]):
    """Base of a flow's source or target: built per step from the connection's session and
    the flow's settings (`self.session`, `self.settings`)."""

    def __init__(self, session: Session, settings: S) -> None:
        self.session = session
        self.settings = settings
