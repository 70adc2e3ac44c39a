"""IFS master data, every record paged in: suppliers, the company's accounts and its
tax codes. Read by `mappings suggest` and by a write's check of its mapping entries
(a blocked supplier or account is not active)."""

from __future__ import annotations

from connector_dagster.lib.master import Record
from connector_dagster.lib.numbers import rate
from connector_dagster.systems.ifs import odata
from connector_dagster.systems.ifs.client import IfsClient

SUPPLIERS_SET = "SupplierHandling.svc/SupplierSet"
"""Where IFS lists suppliers ([U]: not confirmed on a real tenant)."""
ACCOUNTS_SET = "AccountsHandling.svc/AccountSet"
"""Where IFS lists the company's accounts ([U], as F2's `accounts_set` default)."""
TAX_CODES_SET = "TaxCodesHandling.svc/TaxCodeSet"
"""Where IFS lists the company's tax codes and their rates in percent ([U])."""
BLOCKED = "Blocked"
"""The state of a supplier or account IFS takes no new documents for ([U] for accounts)."""


def suppliers(ifs: IfsClient) -> list[Record]:
    rows = ifs.query(SUPPLIERS_SET, select=["VendorNo", "Name", "Objstate"], keys=("VendorNo",))
    return [Record(r["VendorNo"], r["Name"] or "", r.get("Objstate") != BLOCKED) for r in rows]


def accounts(ifs: IfsClient, company: str) -> list[Record]:
    rows = ifs.query(
        ACCOUNTS_SET,
        filter=odata.eq("Company", company),
        select=["Company", "Account", "Description", "Objstate"],
        keys=("Company", "Account"),
    )
    return [
        Record(r["Account"], r["Description"] or "", r.get("Objstate") != BLOCKED,
               number=r["Account"], value=r["Account"])
        for r in rows
    ]  # fmt: skip


def tax_codes(ifs: IfsClient, company: str) -> list[Record]:
    rows = ifs.query(
        TAX_CODES_SET,
        filter=odata.eq("Company", company),
        select=["Company", "FeeCode", "Description", "FeeRate", "Objstate"],
        keys=("Company", "FeeCode"),
    )
    return [
        Record(r["FeeCode"], r["Description"] or "", r.get("Objstate") == "Active",
               rate=rate(r.get("FeeRate"), 100))
        for r in rows
    ]  # fmt: skip
