"""The sandbox company's chart of accounts (every account of `world`, with its
ServiceTitan counterpart, and those IFS alone has), its suppliers, tax codes, sites,
parts and cost centres. No randomness."""

from __future__ import annotations

from decimal import Decimal

from connector_dagster.sandbox import world
from connector_dagster.sandbox.ifs.rules import IFS_ONLY_ACCOUNTS
from connector_dagster.sandbox.ifs.schema import (
    ACCOUNTS,
    CODE_PART_VALUES,
    PARTS,
    SITES,
    SUPPLIERS,
    TAX_CODES,
    Row,
    rowid,
)

OBJVERSION = world.WINDOW_START.replace("-", "") + "000000"
"""Accounts exist before the seeded window begins."""
# IFS logical account types (asset, liability, revenue, cost) by ServiceTitan type.
_LOGICAL = {
    "AccountsReceivable": "A", "OtherCurrentAsset": "A", "AccountsPayable": "L",
    "OtherCurrentLiability": "L", "Income": "R", "CostOfGoodsSold": "C", "Expense": "C",
}  # fmt: skip
_EXTRA_REVENUE = ("4040", "7000")
_IFS_ONLY_TYPES = {"7990": ("Suspense", "A"), "8100": ("Bank Charges", "C")}


def rows() -> list[Row]:
    accounts = [(a.ifs_account, a.name, _LOGICAL[a.type]) for a in world.GL_ACCOUNTS]
    accounts += [(no, IFS_ONLY_ACCOUNTS[no], _IFS_ONLY_TYPES[no][1]) for no in IFS_ONLY_ACCOUNTS]
    accounts += [
        (a.code, a.name, "R" if a.code in _EXTRA_REVENUE else "C") for a in world.IFS_EXTRA_ACCOUNTS
    ]
    return [
        ACCOUNTS.make_row(
            {
                "Company": world.COMPANY,
                "Account": number,
                "Description": name,
                "AccntType": logical,
                "LogicalAccountType": logical,
                "Objstate": "Active",
                "Objversion": OBJVERSION,
                "Objkey": f"{seq:032X}",
            },
            rowid(ACCOUNTS.name, seq),
        )
        for seq, (number, name, logical) in enumerate(sorted(accounts), 1)
    ]


def suppliers() -> list[Row]:
    """Every supplier: those of `world.VENDORS` under their own names, and the extra ones."""
    named = [world.Named(v.ifs_vendor_no, v.name, v.active) for v in world.VENDORS]
    return [
        SUPPLIERS.make_row(
            {
                "VendorNo": s.code,
                "Name": s.name,
                "Country": "US",
                "Objstate": "Active" if s.active else "Blocked",
                "Objversion": OBJVERSION,
                "Objkey": f"{seq:032X}",
            },
            rowid(SUPPLIERS.name, seq),
        )
        for seq, s in enumerate([*named, *world.IFS_EXTRA_SUPPLIERS], 1)
    ]


def tax_codes() -> list[Row]:
    """A tax code per region at its rate (in percent, as IFS keeps it), and the extra ones."""
    named = [
        world.Named(r.ifs_tax_code, f"{r.name} sales tax", rate=r.tax_rate) for r in world.REGIONS
    ]
    return [
        TAX_CODES.make_row(
            {
                "Company": world.COMPANY,
                "FeeCode": t.code,
                "Description": t.name,
                "FeeRate": (t.rate if t.rate is not None else Decimal(0)) * 100,
                "Objstate": "Active" if t.active else "Invalid",
                "Objversion": OBJVERSION,
                "Objkey": f"{seq:032X}",
            },
            rowid(TAX_CODES.name, seq),
        )
        for seq, t in enumerate([*named, *world.IFS_EXTRA_TAX_CODES], 1)
    ]


def sites() -> list[Row]:
    """A site per region (described as its warehouse, but Central's), and the extra ones."""
    named = [
        world.Named(
            r.ifs_site,
            "Van Nuys DC" if r.ifs_site == "CNTRL" else f"{r.name} Warehouse",
            address=(r.street, r.city, r.state, r.zip),
        )
        for r in world.REGIONS
    ]
    return [
        SITES.make_row(
            {
                "Contract": s.code,
                "Description": s.name,
                "Company": world.COMPANY,
                **dict(
                    zip(("Address1", "City", "State", "ZipCode"), s.address or (), strict=False)
                ),
                "Country": "US",
                "Objversion": OBJVERSION,
                "Objkey": f"{seq:032X}",
            },
            rowid(SITES.name, seq),
        )
        for seq, s in enumerate([*named, *world.IFS_EXTRA_SITES], 1)
    ]


def parts() -> list[Row]:
    """Every part of `world.PARTS`, then the extra ones."""
    named = [world.Named(p.ifs_part_no, p.description) for p in world.PARTS]
    return [
        PARTS.make_row(
            {
                "PartNo": p.code,
                "Description": p.name,
                "UnitCode": "PCS",
                "Objversion": OBJVERSION,
                "Objkey": f"{seq:032X}",
            },
            rowid(PARTS.name, seq),
        )
        for seq, p in enumerate([*named, *world.IFS_EXTRA_PARTS], 1)
    ]


def cost_centres() -> list[Row]:
    """Code part B (the cost centre): a value per region, then the extra ones; an
    inactive one was valid until before the window."""
    named = [world.Named(r.cost_centre, f"{r.name} Plumbing & HVAC") for r in world.REGIONS]
    return [
        CODE_PART_VALUES.make_row(
            {
                "Company": world.COMPANY,
                "CodePart": "B",
                "CodePartValue": c.code,
                "Description": c.name,
                "ValidFrom": "2015-01-01",
                "ValidUntil": None if c.active else "2024-12-31",
                "Objversion": OBJVERSION,
                "Objkey": f"{seq:032X}",
            },
            rowid(CODE_PART_VALUES.name, seq),
        )
        for seq, c in enumerate([*named, *world.IFS_EXTRA_COST_CENTRES], 1)
    ]
