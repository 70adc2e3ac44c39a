"""F1's target: ServiceTitan purchase orders in the write protocol.

A look-up by provenance marker (a PO is adopted only when it is what this connector
sent: its memo exactly the marker, made after the record's intent, its content the
payload's), create, update (all lines, with ids) and cancel, turning a PO that
ServiceTitan no longer lets us change into `target_locked`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from connector_dagster.defs.purchase_orders.mapping import update_payload
from connector_dagster.defs.purchase_orders.settings import PurchaseOrderSettings
from connector_dagster.engine.adoption import Conflicts, judge, made_before_intent
from connector_dagster.engine.records import Ambiguous, Outbound
from connector_dagster.engine.session import FlowPart
from connector_dagster.engine.sync import RecordFailure
from connector_dagster.kits.purchase_orders.provenance import (
    marked_order,
    memo_marker,
    provenance_marker,
)
from connector_dagster.lib.errors import ApiError, ErrorKind
from connector_dagster.lib.numbers import decimal_or_none
from connector_dagster.systems.servicetitan.client import ServiceTitanClient

LOCKED_STATES = {"Received", "Exported", "Canceled"}
PERSON_EDITABLE = ("memo", "vendorInvoiceNumber")
"""Fields a person may edit in ServiceTitan: rewritten only when their mapped value changes."""
HEADER_CONTENT = ("vendorId", "typeId", "businessUnitId", "inventoryLocationId", "tax", "shipping")
ITEM_CONTENT = ("skuId", "description", "vendorPartNumber", "quantity", "cost")
"""What a PO must hold, as the payload sent, to be adopted (with its ship-to and dates)."""


def _same(current: Any, sent: Any) -> bool:
    """A value as ServiceTitan returns it against the one sent: numbers as numbers."""
    if isinstance(sent, bool) or not isinstance(sent, int | float | Decimal):
        return current == sent
    return decimal_or_none(current) == decimal_or_none(sent)


def unlike(po: dict[str, Any], record: Outbound, connection: str) -> list[str]:
    """How a ServiceTitan PO that resembles the record differs from what this connector
    sent for it (empty: it is that PO). Its memo must be exactly the marker, it must have
    been made after the record's intent (less LOOKUP_SKEW), and, for a record that
    carries a PO (not a cancellation), hold the payload's vendor, type, business unit,
    location, ship-to, dates, tax, shipping and items, in order."""
    expected = memo_marker(provenance_marker(record.key), connection)
    why = []
    if po.get("summary") != expected:
        why.append(f"its memo is {po.get('summary')!r}, not exactly {expected!r}")
    early = made_before_intent(record, po.get("createdOn"))
    why += [early] if early else []
    payload = record.payload or {}
    if record.op != "upsert" or "items" not in payload:
        return why
    differing = [k for k in HEADER_CONTENT if not _same(po.get(k), payload[k])]
    address = po.get("shipTo") or {}  # ServiceTitan returns the address alone
    if any(address.get(k) != v for k, v in payload["shipTo"]["address"].items()):
        differing.append("shipTo")
    differing += [k for k in ("date", "requiredOn") if str(po.get(k))[:10] != payload[k][:10]]
    items = po.get("items") or []
    if len(items) != len(payload["items"]):
        differing.append(f"items ({len(items)}, sent {len(payload['items'])})")
    else:
        differing += [
            f"items[{n}].{k}"
            for n, (item, sent) in enumerate(zip(items, payload["items"], strict=True))
            for k in ITEM_CONTENT
            if not _same(item.get(k), sent[k])
        ]
    if differing:
        why.append(f"its {', '.join(differing)} differ from what was sent")
    return why


READ_AS = {"memo": "summary", "vendorInvoiceNumber": "vendorDocumentNumber"}
"""Fields ServiceTitan returns under another name."""
UNREADABLE = ("impactsTechnicianPayroll",)
"""Sent, never returned by ServiceTitan (`shipTo.description` neither)."""


def already_holds(
    po: dict[str, Any], body: dict[str, Any], previous: dict[str, Any] | None
) -> bool:
    """Whether the ServiceTitan PO already holds what the PATCH `body` would set, so
    that it need not be sent. What ServiceTitan does not return (the payroll flag, the
    ship-to description) counts as held when it is what was last written (`previous`),
    or, for a PO adopted as this connector's own (no `previous`), what its create sent:
    the payload, as adoption proved."""

    def unreadable(name: str, value: Any) -> bool:
        return previous is None or previous.get(name) == value

    for name, sent in body.items():
        if name == "items":
            items = po.get("items") or []  # the active lines, as ServiceTitan returns them
            if len(items) != len(sent):
                return False
            for item, line in zip(sorted(items, key=lambda i: i["id"]), sent, strict=True):
                if line.get("id") != item["id"]:
                    return False
                if not all(_same(item.get(k), line[k]) for k in ITEM_CONTENT if k in line):
                    return False
        elif name == "shipTo":
            address = po.get("shipTo") or {}
            if any(address.get(k) != v for k, v in sent["address"].items()):
                return False
            if not unreadable("shipTo", sent):
                return False
        elif name in UNREADABLE:
            if not unreadable(name, sent):
                return False
        elif name in ("date", "requiredOn"):
            if str(po.get(name))[:10] != str(sent)[:10]:
                return False
        elif not _same(po.get(READ_AS.get(name, name)), sent):
            return False
    return True


class ServiceTitanPurchaseOrders(FlowPart[PurchaseOrderSettings]):
    """ServiceTitan purchase orders as F1's target."""

    @property
    def st(self) -> ServiceTitanClient:
        return self.session.servicetitan

    def lookup(self, records: Sequence[Outbound], since: datetime) -> dict[str, str | Ambiguous]:
        """The PO this connector made for each record, among those created since `since`:
        one carrying its marker and proven its by `unlike`. A PO that only resembles it
        (the marker inside other text or with other content, or only its vendor invoice
        number) is never adopted, nor are two proven ones. For a record F5 made from a
        ServiceTitan PO (`link`): that PO, found by its number."""
        found = self._raised(r for r in records if r.op == "link")
        wanted = {r.key: r for r in records if r.op != "link"}
        if not wanted:
            return found
        marked: dict[str, list[dict[str, Any]]] = defaultdict(list)
        weak: dict[str, list[str]] = defaultdict(list)
        for po in self.st.iter_pages("inventory", "purchase-orders", {"createdOnOrAfter": since}):
            key = marked_order(po.get("summary"), self.session.name)
            if key in wanted:
                marked[key].append(po)
            elif po.get("vendorDocumentNumber") in wanted:
                weak[po["vendorDocumentNumber"]].append(str(po["id"]))
        for key, record in wanted.items():
            judged = self._judge(record, marked[key], weak[key])
            if judged is not None:
                found[key] = judged
        return found

    def _judge(
        self, record: Outbound, marked: list[dict[str, Any]], weak: list[str]
    ) -> str | Ambiguous | None:
        """The one PO proven the record's, else why none can be adopted (None: no PO
        resembles it, so it is created)."""
        exact = memo_marker(provenance_marker(record.key), self.session.name)
        why = {str(po["id"]): unlike(po, record, self.session.name) for po in marked}
        return judge(
            why,
            weak,
            say=Conflicts(
                things="ServiceTitan PO(s)",
                several_fix="keep the right one (cancel the others in ServiceTitan)",
                resembling="carry a copy of this connection's marker",
                resembling_fix=(
                    "if one of them is this IFS PO, cancel it in ServiceTitan (the replay then "
                    f"creates it) or make its memo exactly {exact!r} and its content the IFS "
                    "PO's; else take the marker out of its memo"
                ),
                weak=f"have vendor invoice number {record.key!r} but not this connector's marker",
                weak_fix=(
                    f"if one is this IFS PO, make its memo exactly {exact!r}, else change its "
                    "vendor invoice number"
                ),
            ),
        )

    def _raised(self, records: Iterable[Outbound]) -> dict[str, str | Ambiguous]:
        """The ServiceTitan PO each IFS PO made by this connection's F5 came from: the
        one with its number that F1 did not write (one request per PO, once: the link
        is then in the ledger)."""
        found: dict[str, str | Ambiguous] = {}
        for record in records:
            assert record.payload is not None
            number = record.payload["servicetitan_po"]
            if record.payload["connection"] != self.session.name:
                continue  # raised in another connection's ServiceTitan: nothing to link here
            ids = [
                str(po["id"])
                for po in self.st.iter_pages("inventory", "purchase-orders", {"number": number})
                if po.get("number") == number
                and marked_order(po.get("summary"), self.session.name) is None
            ]
            if len(ids) == 1:
                found[record.key] = ids[0]
            elif ids:
                found[record.key] = Ambiguous(
                    f"ServiceTitan POs {', '.join(ids)} all have number {number!r}; the IFS PO "
                    "came from one of them: correct the numbers in ServiceTitan, then replay"
                )
        return found

    def create(self, record: Outbound) -> str:
        assert record.payload is not None
        body = {**record.payload, "memo": memo_marker(record.payload["memo"], self.session.name)}
        return str(self.st.create("inventory", "purchase-orders", body)["id"])

    def _current(self, record: Outbound, target_id: str, doing: str) -> dict[str, Any]:
        po = self.st.get("inventory", f"purchase-orders/{target_id}")
        if po.get("status") in LOCKED_STATES:
            raise RecordFailure(
                "target_locked",
                f"PO {record.key!r}: ServiceTitan PO {po.get('number')} (id {target_id}) is "
                f"{po.get('status')} and can no longer be changed, so the IFS {doing} was not "
                "applied; change it in ServiceTitan by hand, then resolve this record",
            )
        return po

    def update(self, record: Outbound, target_id: str) -> None:
        """Send the mapped PO with its lines (with the ids they replace); a field a
        person may edit goes only when its mapped value changed since the last write
        (never for an adopted PO: those fields follow from the order number, which
        its marker proves unchanged). A PO that already holds it all is not patched."""
        assert record.payload is not None
        po = self._current(record, target_id, "change")
        previous = record.previous or {}
        changed = {
            k: v
            for k, v in record.payload.items()
            if k not in PERSON_EDITABLE or (k in previous and previous[k] != v)
        }
        if "memo" in changed:
            changed["memo"] = memo_marker(changed["memo"], self.session.name)
        body = update_payload(changed, po.get("items") or [])
        if already_holds(po, body, record.previous):
            return  # nothing to change: an adopted PO, or one changed by hand to match
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

    def cancel(self, record: Outbound, target_id: str) -> None:
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
