"""How F3's records are counted when a period is reconciled: as the posting kit counts
them, each posting set's debits and credits by IFS company, account and code parts."""

from __future__ import annotations

import re
from collections.abc import Iterator

from connector_dagster.defs.invoices.settings import InvoiceSettings
from connector_dagster.defs.invoices.target import IfsInvoicePostings
from connector_dagster.engine.records import Period
from connector_dagster.engine.session import Session
from connector_dagster.engine.spec import Reconciliation, TargetRecord
from connector_dagster.kits.postings.reconcile import DIMENSIONS, figures, posted

INVOICE = re.compile(r"^ST-INV-(\d+)$")


def invoice_key(reference: str) -> str | None:
    """The invoice id of reference `ST-INV-<id>`; None for any other."""
    match = INVOICE.match(reference)
    return match.group(1) if match else None


def target(session: Session, settings: InvoiceSettings, period: Period) -> Iterator[TargetRecord]:
    """F3's posting sets of the period in IFS: (invoice id, IFS key, figures) each."""
    return posted(IfsInvoicePostings(session, settings), settings, period, ["ST-INV-"], invoice_key)


RECONCILIATION = Reconciliation(dimensions=DIMENSIONS, figures=figures, target=target)
