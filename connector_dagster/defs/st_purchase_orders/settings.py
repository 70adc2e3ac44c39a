"""F5's block under `flows: st_purchase_orders:` of a connection."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from connector_dagster.engine.spec import FlowSettings

ST_PO_STATUSES = ("Pending", "Sent", "PartiallyReceived", "Received", "Exported", "Canceled")
"""The statuses of a ServiceTitan purchase order."""
IFS_PO_STATES = ("Planned", "Released", "Confirmed", "Arrived", "Received", "Closed", "Cancelled")


class RaisedPurchaseOrderSettings(FlowSettings):
    """Which ServiceTitan POs sync, where IFS takes them, and how they are numbered."""

    statuses: list[str] = ["Sent", "PartiallyReceived", "Received", "Exported"]
    """ServiceTitan statuses that are synced: sent to the vendor, or further on."""
    cancelled_statuses: list[str] = ["Canceled"]
    """Statuses that cancel the IFS PO made for the ServiceTitan PO, if one was made."""
    headers_set: str = "PurchaseOrderHandling.svc/PurchaseOrderSet"
    lines_set: str = "entity/v1/PurchaseOrderLineEntity.svc/PurchaseOrderLineSet"
    """Part lines are written on the Entity Service API (/int/), like F1 reads them."""
    reference_field: str = "Reference"
    """The IFS header field holding the provenance marker `ST PO <number>
    [connector:<connection>]`, looked up before each create. F1 reads the field its own
    `servicetitan_reference_field` names: keep the two the same."""
    reference_length: int = Field(50, ge=20, le=2000)
    """How many characters that field holds; a longer marker is `validation`."""
    manual_order_no: bool = False
    """Give the IFS PO the ServiceTitan PO number as its OrderNo (the tenant must allow
    manual numbering); otherwise IFS numbers it from the site's number series."""
    order_no_length: int = Field(20, ge=1, le=50)
    """How long an IFS OrderNo may be: a longer ServiceTitan number is left to IFS's
    number series (the marker still carries it)."""
    locked_states: list[str] = ["Received", "Closed", "Cancelled"]
    """IFS states in which a PO can no longer be changed: a change is `target_locked`."""
    currency: str = "USD"
    """The ServiceTitan tenant's currency, given to each IFS PO as its CurrencyCode."""

    @field_validator("statuses", "cancelled_statuses")
    @classmethod
    def _statuses(cls, v: list[str]) -> list[str]:
        unknown = sorted(set(v) - set(ST_PO_STATUSES))
        if unknown:
            raise ValueError(
                f"unknown ServiceTitan PO status(es) {unknown}; one of {list(ST_PO_STATUSES)}"
            )
        return v

    @field_validator("locked_states")
    @classmethod
    def _states(cls, v: list[str]) -> list[str]:
        unknown = sorted(set(v) - set(IFS_PO_STATES))
        if unknown:
            raise ValueError(f"unknown IFS PO state(s) {unknown}; one of {list(IFS_PO_STATES)}")
        return v

    @model_validator(mode="after")
    def _disjoint(self) -> RaisedPurchaseOrderSettings:
        both = sorted(set(self.statuses) & set(self.cancelled_statuses))
        if both:
            raise ValueError(
                f"status(es) {both} cannot both sync and cancel; keep each in one list"
            )
        return self
