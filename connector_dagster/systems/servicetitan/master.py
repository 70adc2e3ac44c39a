"""ServiceTitan master data, every record paged in, inactive ones included: vendors,
GL accounts, tax zones and pricebook SKUs (materials and equipment, what a PO item
may name). Read by `mappings suggest` and by a write's check of its mapping entries."""

from __future__ import annotations

from connector_dagster.lib.master import Record
from connector_dagster.lib.numbers import decimal_or_none, rate
from connector_dagster.systems.servicetitan.client import ServiceTitanClient

ANY = {"active": "Any"}
"""The lists' default is active records only."""
SKU_KINDS = ("materials", "equipment")
"""The pricebook lists a PO item's `skuId` may name."""


def vendors(st: ServiceTitanClient) -> list[Record]:
    rows = st.iter_pages("inventory", "vendors", ANY)
    return [Record(str(r["id"]), r["name"] or "", bool(r["active"]), value=r["id"]) for r in rows]


def gl_accounts(st: ServiceTitanClient) -> list[Record]:
    rows = st.iter_pages("accounting", "gl-accounts", ANY)
    return [
        Record(str(r["id"]), r["name"] or "", bool(r["active"]), r.get("number") or "", r["id"])
        for r in rows
    ]


def skus(st: ServiceTitanClient) -> list[Record]:
    """Pricebook materials and equipment (services are never a PO item)."""
    return [
        Record(str(r["id"]), r.get("displayName") or r.get("code") or "", bool(r["active"]),
               r.get("code") or "", r["id"])
        for kind in SKU_KINDS
        for r in st.iter_pages("pricebook", kind, ANY)
    ]  # fmt: skip


def tax_zones(st: ServiceTitanClient) -> list[Record]:
    """Tax zones with one rate (a zone of several rates is matched by name only)."""
    found = []
    for zone in st.iter_pages("accounting", "tax-zones", {}):
        rates = {decimal_or_none(r.get("taxRate")) for r in zone.get("rates") or []}
        one = rate(rates.pop(), 1) if len(rates) == 1 else None
        value = {"tax_zone_id": zone["id"], "rate": str(one) if one is not None else None}
        found.append(
            Record(str(zone["id"]), zone.get("name") or "", bool(zone.get("active", True)),
                   value=value, rate=one)
        )  # fmt: skip
    return found
