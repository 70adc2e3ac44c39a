"""Flow F1's I/O: read a period's purchase orders from IFS, write them to ServiceTitan.

`read_period` returns headers and lines (with their ETags) as DataFrames;
`PurchaseOrderTarget` is the ServiceTitan side of the write protocol: a
look-up by provenance marker, create, update (all lines, with ids) and cancel,
turning a PO that ServiceTitan no longer lets us change into `target_locked`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd

from connector_dagster.lib import odata
from connector_dagster.lib.errors import ApiError
from connector_dagster.lib.ifs import IfsClient
from connector_dagster.lib.po_mapping import MARKER_PREFIX, update_payload
from connector_dagster.lib.servicetitan import ServiceTitanClient
from connector_dagster.lib.sync import RecordFailure, SourceRecord

HEADER_FIELDS = [
    "OrderNo", "VendorNo", "OrderDate", "Objstate", "Contract", "CurrencyCode",
    "WantedReceiptDate", "TaxCode", "Company",
]  # fmt: skip
LINE_FIELDS = [
    "OrderNo", "LineNo", "ReleaseNo", "PartNo", "Description", "BuyQtyDue", "BuyUnitMeas",
    "BuyUnitPrice", "TaxCode",
]  # fmt: skip
# The states an IFS purchase order passes through (Cancelled and Stopped are
# not in IFS's published list, but occur).
IFS_PO_STATES = (
    "Planned", "Released", "Confirmed", "Arrived", "Received", "Closed", "Cancelled", "Stopped",
)  # fmt: skip
KEYS_PER_REQUEST = 25
LOCKED_STATES = {"Received", "Exported", "Canceled"}


def _chunks(values: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def read_period(
    ifs: IfsClient, header_set: str, line_set: str, start: date, end: date
) -> dict[str, pd.DataFrame]:
    """Headers whose OrderDate lies in [start, end), and all their lines, with ETags."""
    headers = [
        {**{f: row.get(f) for f in HEADER_FIELDS}, "etag": row.etag}
        for row in ifs.query(
            header_set,
            filter=odata.and_(odata.ge("OrderDate", start), odata.lt("OrderDate", end)),
            select=HEADER_FIELDS,
            orderby=["OrderNo"],
        )
    ]
    lines: list[dict[str, Any]] = []
    for chunk in _chunks([h["OrderNo"] for h in headers], KEYS_PER_REQUEST):
        lines.extend(
            {**{f: row.get(f) for f in LINE_FIELDS}, "etag": row.etag}
            for row in ifs.query(
                line_set,
                filter=odata.any_of("OrderNo", chunk),
                select=LINE_FIELDS,
                orderby=["OrderNo", "LineNo", "ReleaseNo"],
            )
        )
    return {
        "headers": pd.DataFrame(headers, columns=[*HEADER_FIELDS, "etag"], dtype=object),
        "lines": pd.DataFrame(lines, columns=[*LINE_FIELDS, "etag"], dtype=object),
    }


def changed_since_read(ifs: IfsClient, header_set: str, etags: dict[str, str]) -> set[str]:
    """Orders whose header ETag is no longer the one read (changed, or deleted)."""
    current: dict[str, str | None] = {}
    keys = sorted(etags)
    for chunk in _chunks(keys, KEYS_PER_REQUEST):
        for row in ifs.query(
            header_set,
            filter=odata.any_of("OrderNo", chunk),
            select=["OrderNo"],
            orderby=["OrderNo"],
        ):
            current[row["OrderNo"]] = row.etag
    return {k for k in keys if current.get(k) != etags[k]}


class PurchaseOrderTarget:
    """ServiceTitan purchase orders as the write protocol's target."""

    def __init__(self, st: ServiceTitanClient) -> None:
        self.st = st

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
