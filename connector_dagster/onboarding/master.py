"""Master data of both systems as `mappings suggest` compares it: per mapping table,
how its source side and its target side are read (IFS suppliers and ServiceTitan
vendors; IFS accounts and ServiceTitan GL accounts, both ways; IFS tax codes and
ServiceTitan tax zones)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from connector_dagster.engine.session import Session
from connector_dagster.lib.numbers import decimal_or_none
from connector_dagster.systems.ifs import odata

SUPPLIERS_SET = "SupplierHandling.svc/SupplierSet"
"""Where IFS lists suppliers ([U]: not confirmed on a real tenant)."""
ACCOUNTS_SET = "AccountsHandling.svc/AccountSet"
"""Where IFS lists the company's accounts ([U], as F2's `accounts_set` default)."""
TAX_CODES_SET = "TaxCodesHandling.svc/TaxCodeSet"
"""Where IFS lists the company's tax codes and their rates in percent ([U])."""


@dataclass(frozen=True)
class Record:
    """One master record: the code the mapping file keys it by (or holds as the value),
    the number both sides may carry, its name and whether it is active."""

    code: str
    name: str
    active: bool = True
    number: str = ""
    value: Any = None
    """The mapping entry's value when this record is the target."""
    rate: Decimal | None = None
    """A tax rate as a fraction (0.0925), where the record has one."""

    def label(self) -> str:
        number = f" no. {self.number}" if self.number and self.number != self.code else ""
        return f"{self.code}{number} {self.name!r}{'' if self.active else ' (inactive)'}"


@dataclass(frozen=True)
class Pairing:
    """A mapping table, its source side and its target side."""

    table: str
    source: Callable[[Session], list[Record]]
    target: Callable[[Session], list[Record]]
    source_title: str
    target_title: str


def ifs_suppliers(session: Session) -> list[Record]:
    rows = session.client("ifs").query(
        SUPPLIERS_SET, select=["VendorNo", "Name", "Objstate"], keys=("VendorNo",)
    )
    return [Record(r["VendorNo"], r["Name"] or "", r.get("Objstate") != "Blocked") for r in rows]


def ifs_accounts(session: Session) -> list[Record]:
    ifs = session.client("ifs")
    rows = ifs.query(
        ACCOUNTS_SET,
        filter=odata.eq("Company", session.connection.system("ifs").company),
        select=["Company", "Account", "Description"],
        keys=("Company", "Account"),
    )
    return [
        Record(r["Account"], r["Description"] or "", number=r["Account"], value=r["Account"])
        for r in rows
    ]


def ifs_tax_codes(session: Session) -> list[Record]:
    rows = session.client("ifs").query(
        TAX_CODES_SET,
        filter=odata.eq("Company", session.connection.system("ifs").company),
        select=["Company", "FeeCode", "Description", "FeeRate", "Objstate"],
        keys=("Company", "FeeCode"),
    )
    return [
        Record(r["FeeCode"], r["Description"] or "", r.get("Objstate") == "Active",
               rate=_fraction(decimal_or_none(r.get("FeeRate")), 100))
        for r in rows
    ]  # fmt: skip


def st_tax_zones(session: Session) -> list[Record]:
    """Tax zones with one rate (a zone of several rates is matched by name only)."""
    found = []
    for zone in session.client("servicetitan").iter_pages("accounting", "tax-zones", {}):
        rates = {decimal_or_none(r.get("taxRate")) for r in zone.get("rates") or []}
        rate = _fraction(rates.pop(), 1) if len(rates) == 1 else None
        value = {"tax_zone_id": zone["id"], "rate": str(rate) if rate is not None else None}
        found.append(
            Record(str(zone["id"]), zone.get("name") or "", bool(zone.get("active", True)),
                   value=value, rate=rate)
        )  # fmt: skip
    return found


def _fraction(value: Decimal | None, per: int) -> Decimal | None:
    """A rate as a fraction of 1, to four places: 9.25 per 100 -> 0.0925."""
    return None if value is None else (value / per).quantize(Decimal("0.0001"))


def st_vendors(session: Session) -> list[Record]:
    rows = session.client("servicetitan").iter_pages("inventory", "vendors", {"active": "Any"})
    return [Record(str(r["id"]), r["name"] or "", bool(r["active"]), value=r["id"]) for r in rows]


def st_gl_accounts(session: Session) -> list[Record]:
    st = session.client("servicetitan")
    rows = st.iter_pages("accounting", "gl-accounts", {"active": "Any"})
    return [
        Record(str(r["id"]), r["name"] or "", bool(r["active"]), r.get("number") or "", r["id"])
        for r in rows
    ]


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
