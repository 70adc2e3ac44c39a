"""F1's target: ServiceTitan purchase orders in the write protocol.

A look-up by provenance marker, create, update (all lines, with ids) and cancel,
turning a PO that ServiceTitan no longer lets us change into `target_locked`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from connector_dagster.defs.purchase_orders.mapping import MARKER_PREFIX, update_payload
from connector_dagster.defs.purchase_orders.settings import PurchaseOrderSettings
from connector_dagster.engine.link import Link
from connector_dagster.engine.sync import Ambiguous, RecordFailure, SourceRecord
from connector_dagster.lib.errors import ApiError, ErrorKind
from connector_dagster.lib.servicetitan import ServiceTitanClient

LOCKED_STATES = {"Received", "Exported", "Canceled"}
PERSON_EDITABLE = ("memo", "vendorInvoiceNumber")
"""Fields a person may edit in ServiceTitan: rewritten only when their mapped value changes."""


def marker(memo: str, connection: str) -> str:
    """The memo written into ServiceTitan: the mapped memo (`IFS PO <OrderNo>`) tagged
    with the connection, so only this connection's POs are ever adopted."""
    return f"{memo} [connector:{connection}]"


def marked_order(summary: str | None, connection: str) -> str | None:
    """The IFS order number of a ServiceTitan PO's memo carrying this connection's
    marker, wherever in the memo it stands (a person may add text around it)."""
    found = re.search(
        re.escape(MARKER_PREFIX) + r"(.+?) \[connector:" + re.escape(connection) + r"\]",
        summary or "",
    )
    return found.group(1) if found else None


class ServiceTitanPurchaseOrders:
    """ServiceTitan purchase orders as F1's target."""

    def __init__(self, link: Link, settings: PurchaseOrderSettings) -> None:
        self.link = link
        self.settings = settings

    @property
    def st(self) -> ServiceTitanClient:
        return self.link.servicetitan

    def lookup(
        self, records: Sequence[SourceRecord], since: datetime
    ) -> dict[str, str | Ambiguous]:
        """POs created since `since` carrying this connection's marker for the records;
        a PO matching only by vendor invoice number is never adopted. For a record F5
        made from a ServiceTitan PO (`link`): that PO, found by its number."""
        found = self._raised(r for r in records if r.op == "link")
        records = [r for r in records if r.op != "link"]
        if not records:
            return found
        wanted = {r.key for r in records}
        marked: dict[str, list[str]] = defaultdict(list)
        weak: dict[str, list[str]] = defaultdict(list)
        for po in self.st.iter_pages("inventory", "purchase-orders", {"createdOnOrAfter": since}):
            key = marked_order(po.get("summary"), self.link.name)
            if key in wanted:
                marked[key].append(str(po["id"]))
            elif po.get("vendorDocumentNumber") in wanted:
                weak[po["vendorDocumentNumber"]].append(str(po["id"]))
        for key in wanted:
            if len(marked[key]) == 1:
                found[key] = marked[key][0]
            elif marked[key]:
                found[key] = Ambiguous(
                    f"ServiceTitan POs {', '.join(marked[key])} all carry this connection's "
                    "marker; keep the right one (cancel the others in ServiceTitan), then "
                    "replay this record"
                )
            elif weak[key]:
                found[key] = Ambiguous(
                    f"ServiceTitan PO(s) {', '.join(weak[key])} have vendor invoice number "
                    f"{key!r} but not this connector's marker, so none is adopted or changed; "
                    f"if one is this IFS PO, add {marker(MARKER_PREFIX + key, self.link.name)!r} "
                    "to its memo, else change its vendor invoice number, then replay this record"
                )
        return found

    def _raised(self, records: Iterable[SourceRecord]) -> dict[str, str | Ambiguous]:
        """The ServiceTitan PO each IFS PO made by this connection's F5 came from: the
        one with its number that F1 did not write (one request per PO, once: the link
        is then in the ledger)."""
        found: dict[str, str | Ambiguous] = {}
        for record in records:
            assert record.payload is not None
            number = record.payload["servicetitan_po"]
            if record.payload["connection"] != self.link.name:
                continue  # raised in another connection's ServiceTitan: nothing to link here
            ids = [
                str(po["id"])
                for po in self.st.iter_pages("inventory", "purchase-orders", {"number": number})
                if po.get("number") == number
                and marked_order(po.get("summary"), self.link.name) is None
            ]
            if len(ids) == 1:
                found[record.key] = ids[0]
            elif ids:
                found[record.key] = Ambiguous(
                    f"ServiceTitan POs {', '.join(ids)} all have number {number!r}; the IFS PO "
                    "came from one of them: correct the numbers in ServiceTitan, then replay"
                )
        return found

    def create(self, record: SourceRecord) -> str:
        assert record.payload is not None
        body = {**record.payload, "memo": marker(record.payload["memo"], self.link.name)}
        return str(self.st.create("inventory", "purchase-orders", body)["id"])

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
        """Send the mapped PO with its lines (with the ids they replace); a field a
        person may edit goes only when its mapped value changed since the last write
        (never for an adopted PO: those fields follow from the order number, which
        its marker proves unchanged)."""
        assert record.payload is not None
        po = self._current(record, target_id, "change")
        previous = record.previous or {}
        changed = {
            k: v
            for k, v in record.payload.items()
            if k not in PERSON_EDITABLE or (k in previous and previous[k] != v)
        }
        if "memo" in changed:
            changed["memo"] = marker(changed["memo"], self.link.name)
        body = update_payload(changed, po.get("items") or [])
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
        """Cancel the PO; one that is cancelled already (a resent cancellation whose
        first answer was lost, say) is done, not a failure."""
        po = self.st.get("inventory", f"purchase-orders/{target_id}")
        if po.get("status") == "Canceled":
            return
        self._current(record, target_id, "cancellation")
        try:
            self.st.patch(
                "inventory",
                f"purchase-orders/{target_id}/cancellation",
                {"canceledReason": "Other"},
            )
        except ApiError as exc:
            if exc.kind is ErrorKind.AUTH:
                raise
            if self.st.get("inventory", f"purchase-orders/{target_id}").get("status") != "Canceled":
                raise
