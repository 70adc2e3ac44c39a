"""How F3's records are counted when a period is reconciled: each posting set's debits
and credits by IFS company, account and code parts (the cost centre); the IFS side read
for the whole period at once. F4 counts its bills the same way (`posted`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from connector_dagster.defs.invoices.settings import InvoiceSettings, PostingSettings
from connector_dagster.defs.invoices.target import IfsInvoicePostings, IfsPostingTarget
from connector_dagster.engine.link import Link
from connector_dagster.engine.spec import Figures, Period, Reconciliation, TargetRecord
from connector_dagster.lib.ifs_postings import amounts

DIMENSIONS = ("IFS company", "IFS account", "code parts (cost centre)", "measure")
INVOICE = re.compile(r"^ST-INV-(\d+)$")


def figures(payload: dict[str, Any]) -> Figures:
    """A mapped posting set's debits and credits by company, account and code parts."""
    return amounts(payload["header"]["Company"], payload["rows"])


def posted(
    target: IfsPostingTarget,
    settings: PostingSettings,
    period: Period,
    prefixes: Sequence[str],
    key_of: Callable[[str], str | None],
) -> Iterator[TargetRecord]:
    """IFS posting sets dated in the period whose reference starts with one of
    `prefixes` and that carry this connection's marker, every one (two sets of one
    document are both counted): (source key, `key_of` their reference; IFS key; debits
    and credits of their rows). Headers come in one filtered query, rows for many sets
    per request."""
    writer = target.writer
    heads = [
        h
        for h in writer.dated(period.start, period.end, prefixes, select=["Text"])
        if target.marker in str(h.get("Text") or "")
    ]
    rows = writer.rows_of(heads, ["Account", "DebetAmount", "CreditAmount", *settings.code_parts])
    for head in heads:
        key = key_of(str(head.get(writer.sets.reference)))
        if key is not None:
            target_id = writer.sets.key_text(head)
            yield key, target_id, amounts(head.get("Company"), rows.get(target_id, []))


def invoice_key(reference: str) -> str | None:
    """The invoice id of reference `ST-INV-<id>`; None for any other."""
    match = INVOICE.match(reference)
    return match.group(1) if match else None


def target(link: Link, settings: InvoiceSettings, period: Period) -> Iterator[TargetRecord]:
    """F3's posting sets of the period in IFS: (invoice id, IFS key, figures) each."""
    return posted(IfsInvoicePostings(link, settings), settings, period, ["ST-INV-"], invoice_key)


RECONCILIATION = Reconciliation(dimensions=DIMENSIONS, figures=figures, target=target)
