"""The sandbox contractor's reference data, shared by both simulators.

Both simulators and the sandbox mapping file are derived from this one
description, so an IFS vendor, site, tax code, part or GL account always has
its ServiceTitan counterpart. Deterministic: no randomness here.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

COMPANY = "ACME01"
CURRENCY = "USD"
TENANT_NAME = "Acme Mechanical"
# Seed data covers these accounting periods (first day of month, inclusive), up
# to the sandbox's clock: nothing is seeded dated after it.
WINDOW_START = "2025-10-01"
WINDOW_END = "2026-12-31"
# Every seeded event of the window (receipts, payments) has happened by this
# instant: a sandbox clock set here, as the test suite does, seeds the whole window.
WINDOW_SETTLED = "2027-02-01T00:00:00Z"


@dataclass(frozen=True)
class Region:
    code: str  # short code used in keys
    name: str
    ifs_site: str  # IFS Contract
    cost_centre: str  # IFS CodeB
    st_business_unit_id: int
    st_warehouse_id: int
    ifs_tax_code: str
    st_tax_zone_id: int
    tax_rate: Decimal
    street: str
    city: str
    state: str
    zip: str


@dataclass(frozen=True)
class Vendor:
    ifs_vendor_no: str
    st_vendor_id: int
    name: str
    active: bool = True


@dataclass(frozen=True)
class Part:
    ifs_part_no: str
    st_sku_id: int
    description: str
    unit_price: Decimal
    unit: str = "PCS"


@dataclass(frozen=True)
class GlAccount:
    ifs_account: str
    st_account_id: int
    name: str
    type: str  # ST account type
    default_type: str


REGIONS: tuple[Region, ...] = (
    Region(
        "N",
        "North",
        "NORTH",
        "CC100",
        501,
        77,
        "TX-N",
        14,
        Decimal("0.0925"),
        "100 Main St",
        "Glendale",
        "CA",
        "91203",
    ),
    Region(
        "S",
        "South",
        "SOUTH",
        "CC200",
        502,
        78,
        "TX-S",
        15,
        Decimal("0.0775"),
        "2 Harbor Blvd",
        "Long Beach",
        "CA",
        "90802",
    ),
    Region(
        "E",
        "East",
        "EAST",
        "CC300",
        503,
        79,
        "TX-E",
        16,
        Decimal("0.0800"),
        "30 Foothill Rd",
        "Pasadena",
        "CA",
        "91101",
    ),
    Region(
        "W",
        "West",
        "WEST",
        "CC400",
        504,
        80,
        "TX-W",
        17,
        Decimal("0.0950"),
        "44 Ocean Ave",
        "Santa Monica",
        "CA",
        "90401",
    ),
    Region(
        "C",
        "Central",
        "CNTRL",
        "CC500",
        505,
        81,
        "TX-C",
        18,
        Decimal("0.0725"),
        "5 Valley Way",
        "Van Nuys",
        "CA",
        "91401",
    ),
)

_VENDOR_NAMES = (
    "Ferguson #112",
    "Johnstone Supply",
    "O'Brien Pipe & Valve",
    "Ñandú Plumbing Parts",
    "Winsupply",
    "Carrier Enterprise",
    "Lennox PartsPlus",
    'Watsco "West"',
    "Hajoca",
    "Grainger",
    "R.E. Michel",
    "Habegger Corp",
    "Munch's Supply",
    "Baker Distributing",
    "Gustave A. Larson",
    "United Refrigeration",
    "Geary Pacific",
    "Russell Sigler",
    "Coburn Supply",
    "Würth Industrie (inactive)",
)
VENDORS: tuple[Vendor, ...] = tuple(
    Vendor(f"V{1001 + i}", 3101 + i, name, active=not name.endswith("(inactive)"))
    for i, name in enumerate(_VENDOR_NAMES)
)

_PART_NAMES = (
    ("3/4in copper elbow", "2.35"),
    ("1/2in copper tee", "1.90"),
    ("PEX crimp ring 1/2in", "0.18"),
    ("Ball valve 3/4in", "14.50"),
    ("Water heater anode rod", "32.00"),
    ("Flex gas line 24in", "21.75"),
    ("Condensate pump", "89.00"),
    ("Capacitor 45/5 uF", "18.40"),
    ("Contactor 2-pole 30A", "24.10"),
    ("R-410A refrigerant 25lb", "215.00"),
    ("Filter drier 3/8in", "16.25"),
    ("Thermostat, smart", "149.00"),
    ("Blower motor 1/2hp", "238.00"),
    ("Igniter, hot surface", "27.60"),
    ("Flame sensor", "11.20"),
    ("PVC pipe 2in x 10ft", "12.80"),
    ("ABS P-trap 1-1/2in", "6.40"),
    ("Wax ring, toilet", "3.10"),
    ("Faucet cartridge", "22.90"),
    ("Garbage disposal 1/2hp", "118.00"),
    ("Sump pump 1/3hp", "142.50"),
    ("Expansion tank 2gal", "44.00"),
    ("Pressure relief valve", "19.95"),
    ("Ductwork 6in x 5ft", "9.80"),
    ("Foil tape 2.5in", "7.25"),
    ("Line set 3/8 x 3/4 x 25ft", "96.00"),
    ("Disconnect box 60A", "23.40"),
    ("Condenser fan motor", "121.00"),
    ("Zone valve 3/4in", "88.50"),
    ("Backflow preventer 1in", "176.00"),
)
PARTS: tuple[Part, ...] = tuple(
    Part(f"P-{10001 + i}", 55501 + i, desc, Decimal(price))
    for i, (desc, price) in enumerate(_PART_NAMES)
)

GL_ACCOUNTS: tuple[GlAccount, ...] = (
    GlAccount("1200", 120, "Accounts Receivable", "AccountsReceivable", "AccountsReceivable"),
    GlAccount("1300", 130, "Inventory", "OtherCurrentAsset", "Inventory"),
    GlAccount("2000", 200, "Accounts Payable", "AccountsPayable", "AccountsPayable"),
    GlAccount("2200", 220, "Sales Tax Payable", "OtherCurrentLiability", "SalesTaxPayable"),
    GlAccount("4010", 401, "Sales - Materials", "Income", "Revenue"),
    GlAccount("4020", 402, "Sales - Service", "Income", "Revenue"),
    GlAccount("4030", 403, "Sales - Equipment", "Income", "Revenue"),
    GlAccount("5010", 501, "COGS Materials", "CostOfGoodsSold", "CostOfGoodsSoldMaterials"),
    GlAccount("5020", 502, "COGS Equipment", "CostOfGoodsSold", "CostOfGoodsSoldEquipment"),
    GlAccount("6100", 610, "Vehicle Expense", "Expense", "Expense"),
)

# ServiceTitan purchase-order types (id, name); the IFS PO has no type, the
# mapping picks one per connection.
PO_TYPES: tuple[tuple[int, str], ...] = ((12, "Stock"), (13, "Job"), (14, "Emergency"))

# IFS states a purchase order passes through.
PO_STATES = ("Planned", "Released", "Confirmed", "Arrived", "Received", "Closed", "Cancelled")


def region_by_site(site: str) -> Region:
    return next(r for r in REGIONS if r.ifs_site == site)


def region_by_business_unit(business_unit_id: int) -> Region:
    return next(r for r in REGIONS if r.st_business_unit_id == business_unit_id)


# -- master data as real tenants have it, beyond what the mapping file maps ------------------
# The same supplier named differently on each side, numbers that match and that do not,
# near-duplicates and inactive records: what `mappings suggest` meets when onboarding.


@dataclass(frozen=True)
class Named:
    """A master record of one side: its code or id, number (if any), name and state."""

    code: str
    name: str
    active: bool = True
    number: str = ""
    rate: Decimal | None = None
    address: tuple[str, str, str, str] | None = None
    """(street, city, state, zip), where the record has one."""


IFS_EXTRA_SUPPLIERS: tuple[Named, ...] = (
    Named("V2001", "ACME Supply Co."),
    Named("V2002", "Smith & Sons Plumbing LLC"),
    Named("V2003", "Pacific  HVAC-Distributors, Inc"),
    Named("V2004", "Valley Electric Supply"),
    Named("V2005", "Delta Fasteners"),
    Named("V2006", "Summit Mechanical"),
    Named("V2007", "Bay Area Pipe", active=False),
    Named("V2008", "Northwind Traders Corp."),
    Named("V2009", "Ferguson Enterprises"),
    Named("V2010", "Hajoca Corporation"),
)
ST_EXTRA_VENDORS: tuple[Named, ...] = (
    Named("3201", "Acme Supply Company, Inc."),
    Named("3202", "Smith and Sons Plumbing"),
    Named("3203", "pacific hvac distributors"),
    Named("3204", "Valley Electric Supply Co"),
    Named("3205", "Valley Electric Supply, LLC"),
    Named("3206", "Summit Mechanical", active=False),
    Named("3207", "Summit Mechanical Inc."),
    Named("3208", "Bay Area Pipe"),
    Named("3209", "Northwind Traders Corporation"),
    Named("3210", "Gulf Coast Valves"),
)
IFS_EXTRA_ACCOUNTS: tuple[Named, ...] = (
    Named("6200", "Fuel"),
    Named("6300", "Office Supplies"),
    Named("6400", "Tools & Equipment"),
    Named("6500", "Rent"),
    Named("6600", "Old Vehicle Lease"),
    Named("6700", "Utilities"),
    Named("7000", "Interest Income"),
    Named("4040", "Sales - Maintenance Agreements"),
)
"""IFS accounts (`code` the account) of the chart beyond `GL_ACCOUNTS`, all cost (C)
but 7000 and 4040 (revenue)."""
ST_EXTRA_GL_ACCOUNTS: tuple[Named, ...] = (
    Named("620", "Fuel Expense", number="6200"),
    Named("630", "Office  supplies"),
    Named("640", "Tools and Equipment"),
    Named("650", "Rent - Main Office", number="6500"),
    Named("651", "Rent"),
    Named("660", "Old Vehicle Lease", active=False, number="6600"),
    Named("670", "Utilities", number="6710"),
    Named("404", "Sales - Memberships", number="4040"),
    Named("680", "Advertising", number="6800"),
)
"""ServiceTitan GL accounts (`code` the id) beyond `GL_ACCOUNTS`, all Expense but 404."""
IFS_EXTRA_TAX_CODES: tuple[Named, ...] = (
    Named("TX-X", "Tax exempt", rate=Decimal("0")),
    Named("TX-OLD", "North county (before 2025)", active=False, rate=Decimal("0.0900")),
    Named("TX-OX", "Oxnard", rate=Decimal("0.0875")),
)
"""IFS tax codes beyond the regions' (one per region, `ifs_tax_code` at `tax_rate`)."""
ST_EXTRA_TAX_ZONES: tuple[Named, ...] = (Named("19", "Oxnard", rate=Decimal("0.0875")),)
"""ServiceTitan tax zones (`code` the id) beyond the regions'."""

_OXNARD = ("12 Port Rd", "Oxnard", "CA", "93030")
_FRESNO = ("77 Olive Ave", "Fresno", "CA", "93701")
IFS_EXTRA_SITES: tuple[Named, ...] = (
    Named("OXNRD", "Oxnard Warehouse", address=_OXNARD),
    Named("SDIEG", "San Diego Warehouse", address=("9 Bay Blvd", "San Diego", "CA", "92101")),
    Named("OLDYD", "Old Yard", address=("1 Rail St", "Burbank", "CA", "91502")),
    Named("FRSNO", "Fresno Depot", address=_FRESNO),
)
"""IFS sites beyond the regions' (each region's is `ifs_site`, described as its
warehouse, but Central's: "Van Nuys DC", found by its address)."""
ST_EXTRA_WAREHOUSES: tuple[Named, ...] = (
    Named("82", "Oxnard warehouse", address=("12 Port Road", "Oxnard", "CA", "93030")),
    Named("83", "San Diego warehouse", address=("9 Bay Blvd", "San Diego", "CA", "92101")),
    Named("84", "San Diego Warehouse", address=("400 Market St", "San Diego", "CA", "92101")),
    Named("85", "Old Yard", active=False, address=("1 Rail St", "Burbank", "CA", "91502")),
    Named("86", "Central Valley warehouse", address=("77 Olive Avenue", "Fresno", "CA", "93701")),
)
"""ServiceTitan inventory locations (`code` the id) beyond the regions'."""
ST_EXTRA_BUSINESS_UNITS: tuple[Named, ...] = (
    Named("506", "Oxnard \u2013 Plumbing & HVAC", number="CC600", address=_OXNARD),
    Named("507", "Commercial service", address=("250 Commerce Dr", "Glendale", "CA", "91204")),
    Named("508", "Residential", address=("3 Elm St", "Burbank", "CA", "91501")),
    Named("510", "RESIDENTIAL", address=("18 Oak St", "Burbank", "CA", "91505")),
    Named("511", "Central Valley \u2013 HVAC", address=_FRESNO),
)
"""ServiceTitan business units (`code` the id, `number` its accounting code) beyond
the regions' (each region's has its cost centre as accounting code)."""
IFS_EXTRA_COST_CENTRES: tuple[Named, ...] = (
    Named("CC600", "Oxnard"),
    Named("CC700", "Commercial Service"),
    Named("CC800", "Residential"),
    Named("CC900", "Administration"),
    Named("CC050", "Legacy unit", active=False),
)
"""IFS cost centre code part values beyond the regions' (`cost_centre`, described as
"<region> Plumbing & HVAC"); an inactive one is valid until before the window."""
IFS_EXTRA_PARTS: tuple[Named, ...] = (
    Named("P-20001", "Copper pipe 1/2in x 10ft"),
    Named("P-20002", "Brass gate valve 1in"),
    Named("P-20003", "Teflon tape"),
    Named("P-20004", "Hose bibb 1/2in"),
    Named("P-20005", "Mixing valve"),
    Named("P-20050", "Mixing valve, thermostatic"),
    Named("P-20006", "Thermocouple 24in"),
    Named("P-20007", "Gas valve, universal"),
)
"""IFS parts beyond `PARTS` (whose SKUs have the part number as their code)."""
ST_EXTRA_SKUS: tuple[Named, ...] = (
    Named("55601", "Copper Pipe, 1/2 in. x 10 ft", number="P-20001"),
    Named("55602", "Brass Gate Valve 1in", number="BGV-100"),
    Named("55603", "Teflon Tape", number="TT-050"),
    Named("55604", "Teflon tape", number="TT-075"),
    Named("55605", "Frost-free sillcock", number="P-20004"),
    Named("55606", "Mixing Valve", number="P-20050"),
    Named("55607", "Thermocouple 24in", active=False, number="TC-24"),
    Named("55608", "Drain auger 25ft", number="DA-25"),
)
"""ServiceTitan material SKUs (`code` the id, `number` the SKU code)
beyond `PARTS`' SKUs: kept out of the seeded documents, listed by the pricebook only."""
