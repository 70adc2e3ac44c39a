"""Master data of both systems as `mappings suggest` compares it: per mapping table,
how its source side and its target side are read (IFS suppliers and ServiceTitan
vendors; IFS accounts and ServiceTitan GL accounts, both ways; IFS tax codes and
ServiceTitan tax zones), by the readers of each system's `master` module."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from connector_dagster.engine.session import Session
from connector_dagster.lib.master import Record
from connector_dagster.systems.ifs import master as ifs
from connector_dagster.systems.servicetitan import master as st

__all__ = ["PAIRINGS", "Pairing", "Record"]


@dataclass(frozen=True)
class Pairing:
    """A mapping table, its source side and its target side."""

    table: str
    source: Callable[[Session], list[Record]]
    target: Callable[[Session], list[Record]]
    source_title: str
    target_title: str


def ifs_suppliers(session: Session) -> list[Record]:
    return ifs.suppliers(session.client("ifs"))


def ifs_accounts(session: Session) -> list[Record]:
    return ifs.accounts(session.client("ifs"), session.connection.system("ifs").company)


def ifs_tax_codes(session: Session) -> list[Record]:
    return ifs.tax_codes(session.client("ifs"), session.connection.system("ifs").company)


def st_tax_zones(session: Session) -> list[Record]:
    return st.tax_zones(session.client("servicetitan"))


def st_vendors(session: Session) -> list[Record]:
    return st.vendors(session.client("servicetitan"))


def st_gl_accounts(session: Session) -> list[Record]:
    return st.gl_accounts(session.client("servicetitan"))


PAIRINGS: dict[str, Pairing] = {
    p.table: p
    for p in (
        Pairing("vendors", ifs_suppliers, st_vendors, "IFS supplier", "ServiceTitan vendor"),
        Pairing(
            "gl_accounts", ifs_accounts, st_gl_accounts, "IFS account", "ServiceTitan GL account"
        ),
        Pairing(
            "ifs_accounts", st_gl_accounts, ifs_accounts, "ServiceTitan GL account", "IFS account"
        ),
        Pairing("tax_codes", ifs_tax_codes, st_tax_zones, "IFS tax code", "ServiceTitan tax zone"),
    )
}
"""The tables `suggest` can fill; the others need master data it does not read yet."""
