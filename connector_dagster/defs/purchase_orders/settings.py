"""F1's block under `flows: purchase_orders:` of a connection."""

from __future__ import annotations

from pydantic import Field, field_validator

from connector_dagster.engine.spec import FlowSettings

# The states an IFS purchase order passes through (Cancelled and Stopped are
# not in IFS's published list, but occur).
IFS_PO_STATES = (
    "Planned", "Released", "Confirmed", "Arrived", "Received", "Closed", "Cancelled", "Stopped",
)  # fmt: skip


class PurchaseOrderSettings(FlowSettings):
    """Which IFS POs sync, and where IFS serves them."""

    states: list[str] = ["Released", "Confirmed", "Arrived", "Received", "Closed", "Cancelled"]
    """IFS states that are synced; a PO in `Cancelled` cancels its ServiceTitan PO."""
    headers_set: str = "PurchaseOrderHandling.svc/PurchaseOrderSet"
    lines_set: str = "entity/v1/PurchaseOrderLineEntity.svc/PurchaseOrderLineSet"
    """All PO lines (part and no-part) are only on the Entity Service API (/int/)."""
    history_set: str = "HistoryLogHandling.svc/HistoryLogOverviewSet"
    """IFS's History Log, which the change sensor polls (history logging must be on for
    the purchase order LUs)."""
    history_lu_names: list[str] = ["PurchaseOrder", "PurchaseOrderLine"]
    history_page: int = Field(1000, ge=1, le=10000)
    """History Log rows read per tick at most; the rest are read by the next ticks."""
    lines_full_read_hours: float = Field(24, ge=0)
    """A read of a period already read re-reads only the lines of the orders that are new,
    whose header changed, or that the History Log names since the last read (in IFS a
    changed line leaves its order's header as it was); the others' lines are kept from
    the last read. Every this many hours (and when the History Log cannot tell: no
    earlier read, no log rows, `PurchaseOrderLine` not among `history_lu_names`, more
    log rows than a full read costs) it reads every line. 0: every read reads every line
    (for an IFS where history logging is off for purchase order lines)."""
    history_lag_minutes: float = Field(15, ge=0)
    """How far before the last read the History Log is read again: a change whose
    transaction commits late (its row dated earlier than it appears) is still seen."""
    locked_states: list[str] = ["Received", "Closed"]
    """IFS states in which a PO can no longer be changed in IFS: a problem with such a PO
    names a fix in ServiceTitan, never a correction in IFS."""
    currency: str = "USD"
    """The ServiceTitan tenant's currency: a PO in another one is parked (`validation`)."""
    servicetitan_reference_field: str = "Reference"
    """The IFS header field where F5 (`st_purchase_orders`) writes its marker `ST PO
    <number> [connector:<connection>]` (its `reference_field`): a PO carrying it was
    raised in ServiceTitan, so it is linked to that ServiceTitan PO, never sent back."""

    @field_validator("states", "locked_states")
    @classmethod
    def _states(cls, v: list[str]) -> list[str]:
        unknown = sorted(set(v) - set(IFS_PO_STATES))
        if unknown:
            raise ValueError(f"unknown IFS PO state(s) {unknown}; one of {list(IFS_PO_STATES)}")
        return v
