"""ServiceTitan reference data derived from `world`: SKUs, GL account references,
vendors, PO types, warehouses, tax zones, GL accounts and business units."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from connector_dagster.sandbox import world
from connector_dagster.sandbox.servicetitan.common import Row, cents, to_us

CREATED = to_us(datetime(2021, 6, 1, 15, 0, tzinfo=UTC))
MODIFIED = to_us(datetime(2025, 9, 2, 10, 0, tzinfo=UTC))
EQUIPMENT_FROM = Decimal("100")  # parts priced at or above this are Equipment


@dataclass(frozen=True)
class Sku:
    id: int
    code: str
    name: str
    type: str  # Material | Equipment | Service
    cost: Decimal
    price: Decimal
    active: bool = True


_SERVICES = (
    (61001, "SVC-DIAG", "Diagnostic / trip fee", "89.00"),
    (61002, "SVC-LAB-P", "Labor - plumbing, per hour", "145.00"),
    (61003, "SVC-LAB-H", "Labor - HVAC, per hour", "155.00"),
    (61004, "SVC-DRAIN", "Drain cleaning", "225.00"),
    (61005, "SVC-TUNE", "AC tune-up", "129.00"),
    (61006, "SVC-SAFE", "Furnace safety inspection", "119.00"),
    (61007, "SVC-FLUSH", "Water heater flush", "99.00"),
    (61008, "SVC-AFTER", "Emergency after-hours fee", "175.00"),
)


def _part_sku(p: world.Part) -> Sku:
    kind = "Equipment" if p.unit_price >= EQUIPMENT_FROM else "Material"
    markup = Decimal("1.60") if kind == "Equipment" else Decimal("1.85")
    return Sku(
        p.st_sku_id, p.ifs_part_no, p.description, kind, p.unit_price, cents(p.unit_price * markup)
    )


SKUS: dict[int, Sku] = {
    **{p.st_sku_id: _part_sku(p) for p in world.PARTS},
    **{
        i: Sku(i, code, name, "Service", Decimal(0), Decimal(price))
        for i, code, name, price in _SERVICES
    },
}
SKUS_BY_TYPE: dict[str, list[Sku]] = {
    t: [s for s in SKUS.values() if s.type == t] for t in ("Material", "Equipment", "Service")
}

REGION_BY_BU: dict[int, world.Region] = {r.st_business_unit_id: r for r in world.REGIONS}
REGION_BY_WAREHOUSE: dict[int, world.Region] = {r.st_warehouse_id: r for r in world.REGIONS}
GL_BY_ID: dict[int, world.GlAccount] = {a.st_account_id: a for a in world.GL_ACCOUNTS}
GL_REFS: dict[int, Row] = {
    a.st_account_id: {
        "id": a.st_account_id,
        "name": a.name,
        "number": a.ifs_account,
        "type": a.type,
        "detailType": a.default_type,
    }
    for a in world.GL_ACCOUNTS
}
# Sales, cost of sale and asset account per item type.
ITEM_ACCOUNTS: dict[str, tuple[int, int | None, int | None]] = {
    "Material": (401, 501, 130),
    "Equipment": (403, 502, 130),
    "Service": (402, None, None),
}
AR_ACCOUNT, INVENTORY_ACCOUNT, AP_ACCOUNT, SALES_TAX_ACCOUNT = 120, 130, 200, 220
EXPENSE_ACCOUNTS = (610, 501)
# One business unit that is not in `world`: inactive, with an awkward name.
LEGACY_BU = (509, 'Legacy "Old" Ünit \u2013 closed')
JOB_TYPES = {31: "Service Call", 32: "Maintenance", 33: "Install", 34: "Warranty"}
TECHNICIANS = tuple(range(2001, 2013))


def address(street: str, city: str, state: str, zip_code: str, unit: str = "") -> Row:
    return {
        "street": street,
        "unit": unit,
        "city": city,
        "state": state,
        "zip": zip_code,
        "country": "USA",
    }


def region_address(r: world.Region) -> Row:
    return address(r.street, r.city, r.state, r.zip)


def vendors() -> list[Row]:
    """The vendors of `world.VENDORS`, then the extra ones that only onboarding maps."""
    rows = []
    extra = [(int(v.code), v.name, v.active) for v in world.ST_EXTRA_VENDORS]
    every = [(v.st_vendor_id, v.name, v.active) for v in world.VENDORS] + extra
    for i, (vendor_id, name, active) in enumerate(every):
        r = world.REGIONS[i % len(world.REGIONS)]
        rows.append(
            {
                "id": vendor_id,
                "name": name,
                "active": active,
                "isTruckReplenishment": i % 7 == 3,
                "isMobileCreationRestricted": False,
                "memo": "" if i % 5 else "Net 30; call before delivery",
                "deliveryOption": ("EmailAsPdf", "Electronic", "Manual")[i % 3],
                "defaultTaxRate": float(r.tax_rate),
                "contactInfo": {
                    "firstName": ("Ann", "José", "Siobhán", "Lee")[i % 4],
                    "lastName": ("Lee", "Núñez", "O'Neill", "Park")[i % 4],
                    "phone": f"818555{100 + i:04d}",
                    "email": f"ap{vendor_id}@vendor.example",
                    "fax": "",
                },
                "address": address(f"{10 + i} Supply Way", r.city, r.state, r.zip),
                "createdOn": CREATED + i,
                "modifiedOn": MODIFIED + i,
                "externalData": [],
                "customFields": [],
            }
        )
    return rows


def po_types() -> list[Row]:
    rows = [
        {
            "id": type_id,
            "name": name,
            "active": True,
            "automaticallyReceive": False,
            "displayToTechnician": name != "Stock",
            "impactToTechnicianPayroll": False,
            "allowTechniciansToSendPo": name == "Emergency",
            "defaultRequiredDateDaysOffset": 1 if name == "Emergency" else 7,
            "skipWeekends": name != "Emergency",
            "excludeTaxFromJobCosting": False,
            "createdOn": CREATED,
            "modifiedOn": MODIFIED,
        }
        for type_id, name in world.PO_TYPES
    ]
    last = rows[-1]
    rows.append({**last, "id": last["id"] + 1, "name": "Drop-ship (retired)", "active": False})
    return rows


def warehouses() -> list[Row]:
    """A warehouse per region, then the extra ones only onboarding maps."""
    every = [(r.st_warehouse_id, f"{r.name} warehouse", True, region_address(r))
             for r in world.REGIONS]  # fmt: skip
    every += [(int(w.code), w.name, w.active, _address(w)) for w in world.ST_EXTRA_WAREHOUSES]
    return [
        {
            "id": warehouse_id,
            "name": name,
            "active": active,
            "address": where,
            "inventoryTemplateId": None,
            "createdOn": CREATED,
            "modifiedOn": MODIFIED,
            "externalData": [],
        }
        for warehouse_id, name, active, where in every
    ]


def _address(named: world.Named) -> Row:
    street, city, state, zip_code = named.address or ("", "", "", "")
    return address(street, city, state, zip_code)


def tax_zones() -> list[Row]:
    """A tax zone per region, then the extra ones only onboarding maps."""
    every = [(r.st_tax_zone_id, f"{r.city} ({r.ifs_tax_code})", r.state, r.tax_rate)
             for r in world.REGIONS]  # fmt: skip
    every += [(int(z.code), z.name, "CA", z.rate or Decimal(0)) for z in world.ST_EXTRA_TAX_ZONES]
    return [
        {
            "id": zone_id,
            "name": name,
            "color": 0x2E86C1 + i,
            "isTaxRateSeparated": False,
            "isMultipleTaxZone": False,
            "rates": [
                {
                    "id": 1400 + i,
                    "taxName": f"{state} sales tax",
                    "taxBaseType": ["Material"],
                    "taxRate": float(rate),
                    "salesTaxItem": "Sales Tax",
                }
            ],
            "createdOn": CREATED,
            "modifiedOn": MODIFIED,
            "active": True,
        }
        for i, (zone_id, name, state, rate) in enumerate(every)
    ]


def gl_accounts() -> list[Row]:
    return [
        {
            "id": a.st_account_id,
            "name": a.name,
            "number": a.ifs_account,
            "description": f"{a.name} ({a.ifs_account})",
            "type": a.type,
            "subtype": a.default_type,
            "active": True,
            "isIntacctGroup": False,
            "isIntacctBankAccount": False,
            "source": "AccountingSystem",
            "defaultAccountType": a.default_type if a.default_type != "Expense" else None,
            "createdOn": CREATED,
            "modifiedOn": MODIFIED,
        }
        for a in world.GL_ACCOUNTS
    ] + [
        {
            "id": int(a.code),
            "name": a.name,
            "number": a.number,
            "description": a.name,
            "type": "Income" if a.code == "404" else "Expense",
            "subtype": "Revenue" if a.code == "404" else "Expense",
            "active": a.active,
            "isIntacctGroup": False,
            "isIntacctBankAccount": False,
            "source": "AccountingSystem",
            "defaultAccountType": None,
            "createdOn": CREATED,
            "modifiedOn": MODIFIED,
        }
        for a in world.ST_EXTRA_GL_ACCOUNTS
    ]


def business_units(tenant_id: int) -> list[Row]:
    units = [
        (r.st_business_unit_id, f"{r.name} \u2013 Plumbing & HVAC", r, True) for r in world.REGIONS
    ]
    units.append((LEGACY_BU[0], LEGACY_BU[1], world.REGIONS[0], False))
    extra = {int(b.code): b for b in world.ST_EXTRA_BUSINESS_UNITS}
    units += [(bu_id, b.name, world.REGIONS[0], b.active) for bu_id, b in extra.items()]
    rows = [
        {
            "id": bu_id,
            "active": active,
            "name": name,
            "officialName": f"{world.TENANT_NAME} {r.name}",
            "email": f"{r.code.lower()}@acme-mech.example",
            "currency": world.CURRENCY,
            "phoneNumber": f"818555{200 + i:04d}",
            "invoiceHeader": None,
            "invoiceMessage": None,
            "defaultTaxRate": float(r.tax_rate),
            "authorizationParagraph": None,
            "acknowledgementParagraph": None,
            "address": {
                **region_address(r),
                "latitude": None,
                "longitude": None,
                "isManualCoordinates": False,
                "isMilitary": False,
            },
            "materialSku": None,
            "quickbooksClass": r.cost_centre,
            "accountCode": r.cost_centre,
            "franchiseId": None,
            "conceptCode": None,
            "corporateContractNumber": None,
            "trade": {"id": 1, "name": "Plumbing"},
            "division": {"id": 10 + i, "name": r.name},
            "tagTypeIds": [],
            "tenant": {
                "id": tenant_id,
                "name": world.TENANT_NAME,
                "accountCode": None,
                "franchiseId": None,
                "conceptCode": None,
                "modifiedOn": MODIFIED,
            },
            "createdOn": CREATED + i,
            "modifiedOn": MODIFIED + i,
            "externalData": [],
        }
        for i, (bu_id, name, r, active) in enumerate(units)
    ]
    for row in rows:
        b = extra.get(row["id"])
        if b is not None:  # its own address and accounting code, not the region's
            row["address"] = {**row["address"], **_address(b)}
            row["quickbooksClass"] = row["accountCode"] = b.number or None
            row["division"] = None
    return rows


def skus() -> list[Row]:
    """Every SKU of `SKUS`, then the extra materials only the pricebook lists."""
    extra = [
        Sku(int(s.code), s.number, s.name, "Material", Decimal("10.00"), Decimal("18.50"), s.active)
        for s in world.ST_EXTRA_SKUS
    ]
    return [
        {
            "id": s.id,
            "code": s.code,
            "name": s.name,
            "type": s.type,
            "cost": s.cost,
            "price": s.price,
            "active": s.active,
        }
        for s in [*SKUS.values(), *extra]
    ]
