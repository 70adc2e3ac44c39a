"""A connection at run time: its store, its IFS and ServiceTitan clients (credentials
from the vault, built on first use; their rate limits shared by every process through
the store's database) and its mappings. One per step; closed after it."""

from __future__ import annotations

from functools import cached_property

from connector_dagster.engine import registry
from connector_dagster.lib import db, mapping
from connector_dagster.lib.connections import Connection
from connector_dagster.lib.http import Timeouts
from connector_dagster.lib.ifs import IfsClient, IfsSettings
from connector_dagster.lib.leases import LeaseTerms
from connector_dagster.lib.mapping import Mappings
from connector_dagster.lib.servicetitan import ServiceTitanClient, ServiceTitanSettings
from connector_dagster.lib.store import Store
from connector_dagster.lib.vault import Vault, load_keys

STORE_CONNECTIONS = 20
"""Enough for a write step's writer threads, its checks and its leases at once."""


class Link:
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
        self._master_key = master_key

    @classmethod
    def open(
        cls, name: str, database_url: str | None = None, master_key: str | None = None
    ) -> Link:
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

    @cached_property
    def ifs(self) -> IfsClient:
        conn, secrets = self.connection, self.vault().require(self.name, "ifs")
        return IfsClient(
            IfsSettings(
                base_url=conn.ifs.base_url,
                realm=conn.ifs.realm,
                client_id=secrets["client_id"],
                client_secret=secrets["client_secret"],
                name=conn.name,
                page_size=conn.ifs.page_size,
                rate_per_min=conn.ifs.rate_per_min,
                timeout_s=conn.ifs.timeout_s,
                connect_timeout_s=conn.ifs.connect_timeout_s,
                token_margin_s=conn.ifs.token_margin_s,
                database_url=self.store.url,
            )
        )

    @cached_property
    def servicetitan(self) -> ServiceTitanClient:
        st, secrets = self.connection.servicetitan, self.vault().require(self.name, "servicetitan")
        return ServiceTitanClient(
            ServiceTitanSettings(
                api_url=st.api_url,
                auth_url=st.auth_url,
                tenant_id=st.tenant_id,
                app_key=secrets["app_key"],
                client_id=secrets["client_id"],
                client_secret=secrets["client_secret"],
                name=self.name,
                rate_per_s=st.rate_per_s,
                page_size=st.page_size,
                timeout_s=st.timeout_s,
                connect_timeout_s=st.connect_timeout_s,
                token_margin_s=st.token_margin_s,
                database_url=self.store.url,
            )
        )

    def lease_terms(self) -> LeaseTerms:
        """The bound of this connection's write steps: its lease and renewal, and the
        longest a request to either system can be on its way (its timeouts)."""
        conn = self.connection
        in_flight = max(
            Timeouts.of(system.connect_timeout_s, system.timeout_s).in_flight_s
            for system in (conn.ifs, conn.servicetitan)
        )
        return LeaseTerms(conn.leases.ttl_s, conn.leases.renew_s, in_flight)

    def mappings(self) -> Mappings:
        """The mappings in force: the connection's file is loaded first if its version is new."""
        tables = registry.tables()
        mapping.ensure_loaded(self.store, self.name, self.connection.mappings, tables)
        return mapping.load(self.store, self.name, tables)

    def close(self) -> None:
        for client in ("ifs", "servicetitan"):
            if client in self.__dict__:
                self.__dict__.pop(client).close()
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> Link:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
