"""Text no store or target can hold, cleaned where it is read: NUL (PostgreSQL refuses
it in text and jsonb), the other C0 control characters but tab, newline and carriage
return (refused by XML and by most APIs), and lone surrogates (not UTF-8). Each cell
cleaned is reported, naming its table, row and column."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
SURROGATE = re.compile("[\ud800-\udfff]")
UNHOLDABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def clean_text(text: str) -> str:
    """`text` without control characters; a lone surrogate becomes U+FFFD."""
    return SURROGATE.sub(REPLACEMENT, CONTROL.sub("", text))


def clean_value(value: Any) -> Any:
    """A value with every string in it cleaned (lists and dicts walked)."""
    if isinstance(value, str):
        return clean_text(value) if UNHOLDABLE.search(value) else value
    if isinstance(value, Mapping):
        return {clean_value(k): clean_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(clean_value(v) for v in value)
    return value


def _needs(value: Any) -> bool:
    if isinstance(value, str):
        return UNHOLDABLE.search(value) is not None
    if isinstance(value, Mapping):
        return any(_needs(k) or _needs(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_needs(v) for v in value)
    return False


def _all_holdable(values: Any) -> bool:
    """True if no value needs cleaning: the column's text searched at once (joined by a
    newline, which is kept), the lists and dicts in it one by one."""
    texts = [v for v in values if isinstance(v, str)]
    if UNHOLDABLE.search("\n".join(texts)) is not None:
        return False
    return not any(_needs(v) for v in values if isinstance(v, Mapping | list | tuple))


def _found(value: Any) -> set[str]:
    if isinstance(value, str):
        return set(UNHOLDABLE.findall(value))
    if isinstance(value, Mapping):
        return set().union(*(_found(k) | _found(v) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return set().union(*(_found(v) for v in value))
    return set()


def _described(value: Any) -> str:
    return ", ".join(sorted(f"U+{ord(c):04X}" for c in _found(value)))


def clean_frame(name: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The frame with its text cleaned, and one note per cell cleaned: `table row i
    (first columns' values) column: removed U+0000`."""
    notes: list[str] = []
    cleaned = None
    for column in frame.columns:
        series = frame[column]
        if series.dtype != object:
            continue
        values = series.to_numpy(dtype=object)
        if _all_holdable(values):
            continue
        dirty = [i for i, v in enumerate(values) if _needs(v)]
        if not dirty:
            continue
        if cleaned is None:
            cleaned = frame.copy()
        for i in dirty:
            value = series.iat[i]
            row = frame.iloc[i]
            named = ", ".join(f"{c} {row[c]!r}" for c in frame.columns[:2] if c != column)
            notes.append(
                f"{name} row {i + 1} ({clean_value(named)}) {column}: removed "
                f"{_described(value)} that a store or target cannot hold"
            )
            cleaned.iat[i, frame.columns.get_loc(column)] = clean_value(value)
    return (frame if cleaned is None else cleaned), notes


def clean_frames(frames: Mapping[str, pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Every table of a read cleaned (see `clean_frame`), and the notes of all."""
    out: dict[str, pd.DataFrame] = {}
    notes: list[str] = []
    for name, frame in frames.items():
        out[name], found = clean_frame(name, frame)
        notes.extend(found)
    return out, notes
