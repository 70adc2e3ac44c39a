"""`connector-dagster mappings suggest`: mapping entries proposed from both systems'
master data (read from the systems, or from files), for a person to review.

For each source record not mapped yet (and active): the target with the same number
or code first; else the target whose name is the same once normalised (case, accents,
punctuation, "&"/"and", legal suffixes such as Inc./LLC/Co./Company, whitespace);
else the one target with the same tax rate, else the one at the same address.
Purchase-order types have one source, `default`: the only active type, else the one
active type named for stock. Only active targets are proposed. Two or more
candidates, a name match whose numbers disagree, or a target another entry maps to
already: ambiguous, listed, never chosen. Entries already mapped are never changed."""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from connector_dagster.engine import registry
from connector_dagster.engine.session import Session
from connector_dagster.lib.mapping import Mappings
from connector_dagster.onboarding.master import (
    PAIRINGS,
    LiveMaster,
    Master,
    Pairing,
    Record,
    missing_lists,
    sources,
    targets,
)

LEGAL_SUFFIXES = frozenset(
    {"inc", "incorporated", "llc", "co", "company", "corp", "corporation", "ltd", "limited"}
    | {"lp", "llp", "plc"}
)
BY_NUMBER, SAME_NAME, NORMALISED_NAME, BY_ADDRESS, BY_RATE = 0.99, 0.95, 0.9, 0.8, 0.75
"""Confidence of a proposal by the evidence it rests on."""
ONLY_ONE, NAMED_FOR_STOCK = 0.9, 0.75
STOCK_WORDS = frozenset({"stock", "inventory", "replenishment", "restock", "warehouse"})
"""Words naming a purchase-order type for restocking a warehouse, what an IFS PO is."""


def normalised(name: str) -> str:
    """A name as compared: `Smith & Sons Plumbing, LLC` -> `smith and sons plumbing`."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = text.replace("&", " and ")
    words = re.sub(r"[^\w]+", " ", text).split()
    while len(words) > 1 and words[-1] in LEGAL_SUFFIXES:
        words.pop()
    if len(words) > 1 and words[0] == "the":
        words.pop(0)
    return " ".join(words)


@dataclass
class Suggestion:
    """What `suggest` says about one source record of one table."""

    source: Record
    target: Record | None = None
    confidence: float = 0.0
    evidence: str = ""
    candidates: list[tuple[Record, str]] = field(default_factory=list)
    """When ambiguous: every candidate and why it is one."""

    @property
    def ambiguous(self) -> bool:
        return self.target is None and bool(self.candidates)


@dataclass
class TableSuggestions:
    pairing: Pairing
    suggestions: list[Suggestion]

    def proposed(self) -> dict[str, Any]:
        return {s.source.code: s.target.value for s in self.suggestions if s.target is not None}


@dataclass
class Suggestions:
    mappings: Mappings
    tables: dict[str, TableSuggestions]
    unread: dict[str, list[str]]
    """Tables the enabled flows need that `suggest` has no master data for -> the master
    lists it lacks for them."""

    def summary(self) -> str:
        parts = []
        for name, t in self.tables.items():
            n = Counter("proposed" if s.target else "ambiguous" if s.ambiguous else "unmatched"
                        for s in t.suggestions)  # fmt: skip
            parts.append(
                f"{name}: {n['proposed']} proposed, {n['ambiguous']} ambiguous, "
                f"{n['unmatched']} unmatched"
            )
        parts += [f"{name}: no master data ({', '.join(lists)})"
                  for name, lists in self.unread.items()]  # fmt: skip
        return "; ".join(parts)


def _match(source: Record, targets: list[Record], pairing: Pairing, codes: set[str]) -> Suggestion:
    found = Suggestion(source)
    active = [t for t in targets if t.active]
    if source.number:
        same = [t for t in active if t.number and t.number == source.number]
        if len(same) == 1:
            return _chosen(found, same[0], BY_NUMBER, f"number {source.number} on both sides")
        if same:
            found.candidates = [(t, f"number {source.number}") for t in same]
            return found
    key = normalised(source.name)
    named = [t for t in active if key and normalised(t.name) == key]
    clash = [
        t for t in named
        if source.number and t.number and t.number != source.number
        and (pairing.strict_numbers or t.number in codes)
    ]  # fmt: skip
    if len(named) == 1 and not clash:
        same_name = source.name.casefold().split() == named[0].name.casefold().split()
        confidence = SAME_NAME if same_name else NORMALISED_NAME
        return _chosen(found, named[0], confidence, f"names equal once normalised ({key!r})")
    found.candidates = [
        (t, f"same name, but number {t.number} is not {source.number}" if t in clash
         else f"same name once normalised ({key!r})")
        for t in named
    ]  # fmt: skip
    if not named and source.rate is not None:
        same_rate = [t for t in active if t.rate == source.rate]
        if len(same_rate) == 1:
            return _chosen(found, same_rate[0], BY_RATE, f"the same rate, {source.rate * 100:g} %")
        found.candidates = [(t, f"the same rate, {source.rate * 100:g} %") for t in same_rate]
    if not found.candidates and source.address:
        there = [t for t in active if t.address == source.address]
        if len(there) == 1:
            return _chosen(found, there[0], BY_ADDRESS, f"the same address ({source.address!r})")
        found.candidates = [(t, f"the same address ({source.address!r})") for t in there]
    inactive = [t for t in targets if not t.active and normalised(t.name) == key]
    if inactive and not found.candidates:
        found.evidence = "only inactive matches: " + ", ".join(t.label() for t in inactive)
    return found


def _chosen(found: Suggestion, target: Record, confidence: float, evidence: str) -> Suggestion:
    """`target` proposed, unless its entry cannot be made (then said why)."""
    if target.problem:
        found.evidence = f"{evidence} with {target.label()}, but {target.problem}"
        return found
    found.target, found.confidence = target, min(confidence, target.cap)
    found.evidence = f"{evidence}; {target.note}" if target.note else evidence
    return found


def _po_type(
    source: Record, targets: list[Record], pairing: Pairing, codes: set[str]
) -> Suggestion:
    """The one active purchase-order type, else the one named for stock (an IFS PO
    restocks a site's warehouse); else every active type is a candidate."""
    found = Suggestion(source)
    active = [t for t in targets if t.active]
    if len(active) == 1:
        return _chosen(found, active[0], ONLY_ONE, "the only active purchase-order type")
    stock = [t for t in active if STOCK_WORDS & set(normalised(t.name).split())]
    if len(stock) == 1:
        why = "IFS purchase orders restock a warehouse; the one type named so"
        return _chosen(found, stock[0], NAMED_FOR_STOCK, why)
    found.candidates = [(t, "an active purchase-order type") for t in stock or active]
    return found


def _suggest_table(
    master: Master, maps: Mappings, pairing: Pairing, existing: dict[str, Any]
) -> TableSuggestions:
    found_targets = targets(pairing, master, maps)
    found_sources = sorted(sources(pairing, master), key=lambda r: r.code)
    codes = {r.code for r in found_sources}
    match = _po_type if pairing.table == "po_types" else _match
    suggestions = []
    for source in found_sources:
        if source.code in existing:
            continue
        if not source.active:
            suggestions.append(Suggestion(source, evidence="inactive, not proposed"))
            continue
        suggestions.append(match(source, found_targets, pairing, codes))
    taken = {pairing.identity(v): code for code, v in existing.items()}
    claims: dict[str, list[Suggestion]] = {}
    for s in suggestions:
        if s.target is not None:
            claims.setdefault(pairing.identity(s.target.value), []).append(s)
    for value, claimants in claims.items():
        best = max(c.confidence for c in claimants)
        winners = [c for c in claimants if c.confidence == best]
        for s in claimants:
            other = taken.get(value)
            if other is not None:
                why = f"already mapped from {other}"
            elif s not in winners:
                why = f"{winners[0].source.code} matches it better ({winners[0].evidence})"
            elif len(winners) > 1:
                why = "proposed for another record as well"
            else:
                continue
            target, s.target, s.confidence = s.target, None, 0.0
            if target is not None:
                s.candidates = [(target, f"{s.evidence}, but {why}")]
    return TableSuggestions(pairing, suggestions)


def needed_tables(flows: dict[str, Any] | None) -> list[str]:
    """The tables the enabled flows read (every flow's without a connection)."""
    if flows is None:
        return [t.kind for t in registry.tables()]
    return sorted(
        {t.kind for name, s in flows.items() if s.enabled for t in registry.flow(name).tables}
    )


def suggest(session: Session) -> Suggestions:
    """Suggestions for every table the connection's enabled flows read, from both
    systems' master data."""
    return suggest_from(
        LiveMaster(session), session.mappings(), needed_tables(session.connection.flows)
    )


def suggest_from(master: Master, maps: Mappings, needed: list[str]) -> Suggestions:
    """Suggestions for the `needed` tables from `master`'s lists; a table whose lists
    are not at hand is unread."""
    tables, unread = {}, {}
    for kind in needed:
        pairing = PAIRINGS.get(kind)
        lacking = missing_lists(pairing, master) if pairing else ["(none read)"]
        if lacking:
            unread[kind] = lacking
        else:
            tables[kind] = _suggest_table(master, maps, pairing, maps.table(kind))
    return Suggestions(maps, tables, unread)


def _comment(pairing: Pairing, s: Suggestion) -> str:
    who = f"{pairing.source_title} {s.source.label()}"
    if s.target is not None:
        return (
            f"  # suggested: {who} -> {pairing.target_title} {s.target.label()}: {s.evidence}; "
            f"confidence {s.confidence:.2f}"
        )
    if s.candidates:
        listed = "; ".join(f"{t.label()} ({why})" for t, why in s.candidates)
        return f"  # ambiguous, not chosen: {who}; candidates: {listed}"
    return f"  # no match: {who}{': ' + s.evidence if s.evidence else ''}"


def review_file(name: str, found: Suggestions) -> str:
    """The mappings with the suggestions added, in the mapping file's format, each
    suggestion and each record left unmapped with a comment (`name`: the connection,
    or where the master data came from)."""
    lines = [
        f"# Mapping suggestions for {name}, from both systems' master data.",
        "# Entries mapped already are as they were. Each suggested entry has a comment with",
        "# its evidence and confidence; ambiguous records list their candidates and are not",
        "# chosen. Review, delete what is wrong, then load it as a new version: point the",
        "# connection's `mappings:` at this file (or copy it over the mapping file) and run",
        "# `connector-dagster mappings load`.",
        f"version: {json.dumps(found.mappings.version + '+suggested')}",
    ]
    for table in registry.tables():
        kind = table.kind
        existing = found.mappings.table(kind)
        suggested = found.tables.get(kind)
        lines.append(
            f"{kind}:  # {table.description}" if existing or suggested else f"{kind}: {{}}"
        )
        lines += [
            f"  {json.dumps(code)}: {json.dumps(value, ensure_ascii=False)}"
            for code, value in existing.items()
        ]
        if kind in found.unread:
            lacking = ", ".join(found.unread[kind])
            lines.append(f"  # no master data read for this table ({lacking}): no suggestions")
        if suggested is None:
            continue
        for s in suggested.suggestions:
            lines.append(_comment(suggested.pairing, s))
            if s.target is not None:
                value = json.dumps(s.target.value, ensure_ascii=False)
                lines.append(f"  {json.dumps(s.source.code)}: {value}")
    return "\n".join(lines) + "\n"
