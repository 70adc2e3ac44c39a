"""The mapping tables of purchase orders: F1 reads them from IFS to ServiceTitan, F5
reads four of them in reverse (vendors, sites, parts, tax codes)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from connector_dagster.lib.mapping import Table


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ShipTo(_Entry):
    description: str
    street: str
    unit: str = ""
    city: str
    state: str
    zip: str
    country: str


class Site(_Entry):
    business_unit_id: PositiveInt
    inventory_location_id: PositiveInt
    ship_to: ShipTo


class TaxCode(_Entry):
    tax_zone_id: PositiveInt
    rate: Annotated[Decimal, Field(ge=0, lt=1)]


TABLES = (
    Table("vendors", "IFS VendorNo -> ServiceTitan vendor id", PositiveInt),
    Table("sites", "IFS site (Contract) -> ServiceTitan business unit, location, ship-to", Site),
    Table("tax_codes", "IFS tax code -> ServiceTitan tax zone and rate", TaxCode),
    Table("parts", "IFS PartNo -> ServiceTitan SKU id", PositiveInt),
    Table("po_types", "`default` -> the ServiceTitan purchase-order type", PositiveInt),
)
