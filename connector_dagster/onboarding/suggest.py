"""`connector-dagster mappings suggest`: mapping entries proposed from both systems'
master data, for a person to review.

For each source record not mapped yet (and active): the target with the same number
first; else the target whose name is the same once normalised (case, accents,
punctuation, "&"/"and", legal suffixes such as Inc./LLC/Co./Company, whitespace);
else, for tax codes, the one tax zone with the same rate.
Only active targets are proposed. Two or more candidates, a name match whose numbers
disagree, or a target another entry maps to already: ambiguous, listed, never chosen.
Entries already mapped are never changed."""

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
from connector_dagster.onboarding.master import PAIRINGS, Pairing, Record

LEGAL_SUFFIXES = frozenset(
    {"inc", "incorporated", "llc", "co", "company", "corp", "corporation", "ltd", "limited"}
    | {"lp", "llp", "plc"}
)
BY_NUMBER, SAME_NAME, NORMALISED_NAME, BY_RATE = 0.99, 0.95, 0.9, 0.75
"""Confidence of a proposal by the evidence it rests on."""


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
    unread: list[str]
    """Tables the enabled flows need that `suggest` has no master data for."""

    def summary(self) -> str:
        parts = []
        for name, t in self.tables.items():
            n = Counter("proposed" if s.target else "ambiguous" if s.ambiguous else "unmatched"
                        for s in t.suggestions)  # fmt: skip
            parts.append(
                f"{name}: {n['proposed']} proposed, {n['ambiguous']} ambiguous, "
                f"{n['unmatched']} unmatched"
            )
        return "; ".join(parts)


def _match(source: Record, targets: list[Record]) -> Suggestion:
    found = Suggestion(source)
    active = [t for t in targets if t.active]
    if source.number:
        same = [t for t in active if t.number and t.number == source.number]
        if len(same) == 1:
            found.target, found.confidence = same[0], BY_NUMBER
            found.evidence = f"number {source.number} on both sides"
            return found
        if same:
            found.candidates = [(t, f"number {source.number}") for t in same]
            return found
    key = normalised(source.name)
    named = [t for t in active if key and normalised(t.name) == key]
    clash = [t for t in named if source.number and t.number and t.number != source.number]
    if len(named) == 1 and not clash:
        found.target = named[0]
        same_name = source.name.casefold().split() == named[0].name.casefold().split()
        found.confidence = SAME_NAME if same_name else NORMALISED_NAME
        found.evidence = f"names equal once normalised ({key!r})"
        return found
    found.candidates = [
        (t, f"same name, but number {t.number} is not {source.number}" if t in clash
         else f"same name once normalised ({key!r})")
        for t in named
    ]  # fmt: skip
    if not named and source.rate is not None:
        same_rate = [t for t in active if t.rate == source.rate]
        if len(same_rate) == 1:
            found.target, found.confidence = same_rate[0], BY_RATE
            found.evidence = f"the same rate, {source.rate * 100:g} %"
            return found
        found.candidates = [(t, f"the same rate, {source.rate * 100:g} %") for t in same_rate]
    inactive = [t for t in targets if not t.active and normalised(t.name) == key]
    if inactive and not found.candidates:
        found.evidence = "only inactive matches: " + ", ".join(t.label() for t in inactive)
    return found


def _suggest_table(
    session: Session, pairing: Pairing, existing: dict[str, Any]
) -> TableSuggestions:
    targets = pairing.target(session)
    suggestions = []
    for source in sorted(pairing.source(session), key=lambda r: r.code):
        if source.code in existing:
            continue
        if not source.active:
            suggestions.append(Suggestion(source, evidence="inactive, not proposed"))
            continue
        suggestions.append(_match(source, targets))
    taken = {json.dumps(v): code for code, v in existing.items()}
    claims: dict[str, list[Suggestion]] = {}
    for s in suggestions:
        if s.target is not None:
            claims.setdefault(json.dumps(s.target.value), []).append(s)
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


def suggest(session: Session) -> Suggestions:
    """Suggestions for every table the connection's enabled flows read."""
    maps = session.mappings()
    needed = sorted(
        {t.kind for name, s in session.connection.flows.items() if s.enabled
         for t in registry.flow(name).tables}
    )  # fmt: skip
    tables = {
        kind: _suggest_table(session, PAIRINGS[kind], maps.table(kind))
        for kind in needed
        if kind in PAIRINGS
    }
    return Suggestions(maps, tables, [k for k in needed if k not in PAIRINGS])


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


def review_file(session: Session, found: Suggestions) -> str:
    """The connection's mappings with the suggestions added, in the mapping file's format,
    each suggestion and each record left unmapped with a comment."""
    lines = [
        f"# Mapping suggestions for connection {session.name}, from both systems' master data.",
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
            lines.append("  # no master data read for this table: no suggestions")
        if suggested is None:
            continue
        for s in suggested.suggestions:
            lines.append(_comment(suggested.pairing, s))
            if s.target is not None:
                value = json.dumps(s.target.value, ensure_ascii=False)
                lines.append(f"  {json.dumps(s.source.code)}: {value}")
    return "\n".join(lines) + "\n"
