"""How F2's records are counted when a period is reconciled: debits and credits by
ServiceTitan GL account and business unit."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any

from connector_dagster.defs.gl_postings.settings import GlPostingSettings
from connector_dagster.defs.gl_postings.target import marked_key
from connector_dagster.engine.records import Period
from connector_dagster.engine.session import Session
from connector_dagster.engine.spec import Figures, Reconciliation, TargetRecord


def _sum(lines: list[tuple[Any, Any, Any, Any]]) -> Figures:
    sums: dict[tuple[str, ...], Decimal] = defaultdict(Decimal)
    for account, business_unit, debit, credit in lines:
        where = (f"GL account {account}", f"business unit {business_unit}")
        for measure, amount in (("debit", debit), ("credit", credit)):
            if Decimal(str(amount or 0)):
                sums[(*where, measure)] += Decimal(str(amount))
    return dict(sums)


def figures(payload: dict[str, Any]) -> Figures:
    """A mapped journal entry's debits and credits by account and business unit."""
    return _sum(
        [(ln["accountId"], ln.get("businessUnitId"), ln["debit"], ln["credit"])
         for ln in payload["lines"]]
    )  # fmt: skip


def target(session: Session, settings: GlPostingSettings, period: Period) -> Iterator[TargetRecord]:
    """Journal entries posted in the period that carry this connection's marker, every
    one (two entries of one proposal are both counted): (proposal key, entry id, its
    debits and credits from its details)."""
    st = session.servicetitan
    params = {
        "postedFrom": datetime.combine(period.start, time(), UTC),
        "postedTo": datetime.combine(period.end, time(), UTC),
    }
    for entry in st.iter_pages("accounting", "journal-entries", params):
        key = marked_key(entry.get("name"), session.name)
        posted = str(entry.get("postDate") or "")[:10]
        if key is None or not period.start.isoformat() <= posted < period.end.isoformat():
            continue
        lines = [
            ((d.get("account") or {}).get("id"), (d.get("businessUnit") or {}).get("id"),
             d["debit"], d["credit"])
            for d in st.iter_pages("accounting", f"journal-entries/{entry['id']}/details", {})
        ]  # fmt: skip
        yield key, str(entry["id"]), _sum(lines)


RECONCILIATION = Reconciliation(
    dimensions=("ServiceTitan GL account", "business unit", "measure"),
    figures=figures,
    target=target,
)
