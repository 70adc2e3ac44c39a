"""How F3's and F4's records are counted when a period is reconciled: each posting set's
debits and credits by IFS company, account and code parts (the cost centre); the IFS
side read for the whole period at once (`posted`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from connector_dagster.engine.records import Period, correction_key
from connector_dagster.engine.spec import Figures, TargetRecord
from connector_dagster.kits.postings.corrections import corrected
from connector_dagster.kits.postings.settings import PostingSettings
from connector_dagster.kits.postings.target import IfsPostingTarget
from connector_dagster.systems.ifs.postings import amounts

DIMENSIONS = ("IFS company", "IFS account", "code parts (cost centre)", "measure")


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
    document are both counted): (source key, `key_of` their reference, or the key of a
    document's correction `<key> correction <n>` for `<reference>-C<n>`; IFS key; debits
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
        key = posting_key(str(head.get(writer.sets.reference)), key_of)
        if key is not None:
            target_id = writer.sets.key_text(head)
            yield key, target_id, amounts(head.get("Company"), rows.get(target_id, []))


def posting_key(reference: str, key_of: Callable[[str], str | None]) -> str | None:
    """The source key of a posting set's reference: a document's, or its correction's."""
    key = key_of(reference)
    if key is not None:
        return key
    correction = corrected(reference)
    if correction is None:
        return None
    document = key_of(correction[0])
    return None if document is None else correction_key(document, correction[1])
