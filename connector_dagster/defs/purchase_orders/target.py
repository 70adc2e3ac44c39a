"""F1's target: ServiceTitan purchase orders in the write protocol.

A look-up by provenance marker, create, update (all lines, with ids) and cancel,
turning a PO that ServiceTitan no longer lets us change into `target_locked`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from connector_dagster.defs.purchase_orders.mapping import MARKER_PREFIX, update_payload
from connector_dagster.defs.purchase_orders.settings import PurchaseOrderSettings
from connector_dagster.engine.link import Link
from connector_dagster.engine.sync import RecordFailure, SourceRecord
from connector_dagster.lib.errors import ApiError
from connector_dagster.lib.servicetitan import ServiceTitanClient

LOCKED_STATES = {"Received", "Exported", "Canceled"}


class ServiceTitanPurchaseOrders:
    """ServiceTitan purchase orders as F1's target."""

    def __init__(self, link: Link, settings: PurchaseOrderSettings) -> None:
        self.link = link
        self.settings = settings

    @property
    def st(self) -> ServiceTitanClient:
        return self.link.servicetitan

    def lookup(self, records: Sequence[SourceRecord], since: datetime) -> dict[str, str]:
        wanted = {r.key for r in records}
        found: dict[str, str] = {}
        params = {"createdOnOrAfter": since.strftime("%Y-%m-%dT%H:%M:%SZ")}
        for po in self.st.iter_pages("inventory", "purchase-orders", params):
            summary = po.get("summary") or ""
            key = summary[len(MARKER_PREFIX) :] if summary.startswith(MARKER_PREFIX) else None
            key = key if key in wanted else po.get("vendorDocumentNumber")
            if key in wanted and key not in found:
                found[key] = str(po["id"])
        return found

    def create(self, record: SourceRecord) -> str:
        assert record.payload is not None
        return str(self.st.create("inventory", "purchase-orders", record.payload)["id"])

    def _current(self, record: SourceRecord, target_id: str, doing: str) -> dict[str, Any]:
        po = self.st.get("inventory", f"purchase-orders/{target_id}")
        if po.get("status") in LOCKED_STATES:
            raise RecordFailure(
                "target_locked",
                f"PO {record.key!r}: ServiceTitan PO {po.get('number')} (id {target_id}) is "
                f"{po.get('status')} and can no longer be changed, so the IFS {doing} was not "
                "applied; change it in ServiceTitan by hand, then resolve this record",
            )
        return po

    def update(self, record: SourceRecord, target_id: str) -> None:
        assert record.payload is not None
        po = self._current(record, target_id, "change")
        body = update_payload(record.payload, po.get("items") or [])
        try:
            self.st.patch("inventory", f"purchase-orders/{target_id}", body)
        except ApiError as exc:
            if exc.status == 409:
                raise RecordFailure(
                    "target_locked",
                    f"PO {record.key!r}: ServiceTitan refused the change (409): {exc.detail}",
                    http_status=409,
                ) from None
            raise

    def cancel(self, record: SourceRecord, target_id: str) -> None:
        po = self.st.get("inventory", f"purchase-orders/{target_id}")
        if po.get("status") == "Canceled":
            return
        self._current(record, target_id, "cancellation")
        self.st.patch(
            "inventory", f"purchase-orders/{target_id}/cancellation", {"canceledReason": "Other"}
        )
