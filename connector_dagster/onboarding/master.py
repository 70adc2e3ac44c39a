"""Master data of both systems as `mappings suggest` compares it: per mapping table,
how its source side and its target side are read (IFS suppliers and ServiceTitan
vendors; IFS accounts and ServiceTitan GL accounts, both ways; IFS tax codes and
ServiceTitan tax zones), by the readers of each system's `master` module."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from connector_dagster.engine.link import Link
from connector_dagster.lib.master import Record
from connector_dagster.systems.ifs import master as ifs
from connector_dagster.systems.servicetitan import master as st

__all__ = ["PAIRINGS", "Pairing", "Record"]


@dataclass(frozen=True)
class Pairing:
    """A mapping table, its source side and its target side."""

    table: str
    source: Callable[[Link], list[Record]]
    target: Callable[[Link], list[Record]]
    source_title: str
    target_title: str


def ifs_suppliers(link: Link) -> list[Record]:
    return ifs.suppliers(link.client("ifs"))


def ifs_accounts(link: Link) -> list[Record]:
    return ifs.accounts(link.client("ifs"), link.connection.system("ifs").company)


def ifs_tax_codes(link: Link) -> list[Record]:
    return ifs.tax_codes(link.client("ifs"), link.connection.system("ifs").company)


def st_tax_zones(link: Link) -> list[Record]:
    return st.tax_zones(link.client("servicetitan"))


def st_vendors(link: Link) -> list[Record]:
    return st.vendors(link.client("servicetitan"))


def st_gl_accounts(link: Link) -> list[Record]:
    return st.gl_accounts(link.client("servicetitan"))


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
