"""F3's target: the posting kit's IFS posting target, invoices referenced `ST-INV-<id>`
and marked with `invoices/markasexported` (their `externalId` the IFS key)."""

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

    def mark(self, record: Outbound, target_id: str) -> None:
        invoice_id = int(record.key)
        body = [
            {
                "invoiceId": invoice_id,
                "externalId": external_id(target_id),
                "externalMessage": self.message(target_id),
            }
        ]
        answers = self.session.servicetitan.post(
            "accounting", "invoices/markasexported", body, idempotent=True
        )
        self.marked_exported(record, target_id, answers, "invoiceId", invoice_id)
