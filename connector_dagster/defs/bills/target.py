"""F4's target: the posting kit's IFS posting target, bills marked with `ap-bills/markasexported`
or `inventory-bills/markasexported`. Bills carry no external id in ServiceTitan (a mark
only sets their sync status), so the IFS key is kept in the ledger alone. Bills of a
kind written together are marked in one request (its body holds an array of ids)."""

from __future__ import annotations

from connector_dagster.defs.bills.mapping import reference
from connector_dagster.engine.records import Outbound
from connector_dagster.kits.postings.target import IfsPostingTarget

MARK = {
    "ap": ("ap-bills/markasexported", "billIds", "billId"),
    "inventory": ("inventory-bills/markasexported", "inventoryBillIds", "inventoryBillId"),
}


class IfsBillPostings(IfsPostingTarget):
    """AP and inventory bills as IFS posting sets."""

    label = "bill"

    def reference(self, key: str) -> str:
        return reference(key)

    def mark(self, record: Outbound, target_id: str, correction: str | None = None) -> None:
        assert record.payload is not None
        export = record.payload["export"]
        path, ids_field, id_field = MARK[export["kind"]]
        self.exported(record, target_id, path, export["id"], ids_field, id_field)
