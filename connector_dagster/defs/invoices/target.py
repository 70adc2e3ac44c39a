"""F3's target: the posting kit's IFS posting target, invoices referenced `ST-INV-<id>`
and marked with `invoices/markasexported` (their `externalId` the IFS key), the marks of
invoices written together in one request (its body is an array)."""

from __future__ import annotations

from connector_dagster.defs.invoices.mapping import reference
from connector_dagster.engine.records import Outbound
from connector_dagster.kits.postings.mapping import external_id
from connector_dagster.kits.postings.target import IfsPostingTarget


class IfsInvoicePostings(IfsPostingTarget):
    """F3's target: invoices, marked with `invoices/markasexported`."""

    label = "invoice"

    def reference(self, key: str) -> str:
        return reference(key)

    def mark(self, record: Outbound, target_id: str, correction: str | None = None) -> None:
        entry = {
            "invoiceId": int(record.key),
            "externalId": external_id(target_id),
            "externalMessage": self.message(target_id, correction),
        }
        self.exported(record, target_id, "invoices/markasexported", entry, None, "invoiceId")
