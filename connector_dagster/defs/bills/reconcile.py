"""How F4's records are counted when a period is reconciled: as the posting kit counts
them, each posting set's debits and credits by IFS company, account and code parts."""

from __future__ import annotations

import re
from collections.abc import Iterator

from connector_dagster.defs.bills.mapping import PREFIX
from connector_dagster.defs.bills.settings import BillSettings
from connector_dagster.defs.bills.source import bill_key
from connector_dagster.defs.bills.target import IfsBillPostings
from connector_dagster.engine.records import Period
from connector_dagster.engine.session import Session
from connector_dagster.engine.spec import Reconciliation, TargetRecord
from connector_dagster.kits.postings.reconcile import DIMENSIONS, figures, posted

KIND = {prefix: kind for kind, prefix in PREFIX.items()}
BILL = re.compile(rf"^ST-({'|'.join(KIND)})-(\d+)$")


def key_of(reference: str) -> str | None:
    """The bill key of reference `ST-APB-<id>` (`ap-<id>`) or `ST-INB-<id>`
    (`inventory-<id>`); None for any other."""
    match = BILL.match(reference)
    return bill_key(KIND[match.group(1)], match.group(2)) if match else None


def target(session: Session, settings: BillSettings, period: Period) -> Iterator[TargetRecord]:
    """F4's posting sets of the period in IFS: (bill key, IFS key, figures) each."""
    prefixes = [f"ST-{p}-" for p in PREFIX.values()]
    return posted(IfsBillPostings(session, settings), settings, period, prefixes, key_of)


RECONCILIATION = Reconciliation(dimensions=DIMENSIONS, figures=figures, target=target)
