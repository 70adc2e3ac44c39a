"""The master lists the flows' mapping entries point at, as the engine checks them
before a write (`engine.live`): ServiceTitan vendors, SKUs and GL accounts (inactive
ones refused), IFS accounts (blocked ones refused). Read by each system's `master`."""

from __future__ import annotations

from connector_dagster.engine.live import Master
from connector_dagster.engine.session import Session
from connector_dagster.lib.master import Record
from connector_dagster.systems.ifs import master as ifs
from connector_dagster.systems.servicetitan import master as st


def _st_vendors(session: Session) -> list[Record]:
    return st.vendors(session.client("servicetitan"))


def _st_skus(session: Session) -> list[Record]:
    return st.skus(session.client("servicetitan"))


def _st_gl_accounts(session: Session) -> list[Record]:
    return st.gl_accounts(session.client("servicetitan"))


def _ifs_accounts(session: Session) -> list[Record]:
    return ifs.accounts(session.client("ifs"), session.connection.system("ifs").company)


ST_VENDORS = Master("ServiceTitan vendor", _st_vendors)
ST_SKUS = Master("ServiceTitan SKU", _st_skus)
ST_GL_ACCOUNTS = Master("ServiceTitan GL account", _st_gl_accounts)
IFS_ACCOUNTS = Master("IFS account", _ifs_accounts, inactive="blocked")
