"""What flows and the engine pass each other: a period, a read, the items read, the
mapped payload of each, and the records on their way to the target. Data only."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

import pandas as pd

from connector_dagster.lib.store import Correction

Frames = dict[str, pd.DataFrame]
"""What one read asset holds for a period: named tables (e.g. headers and lines)."""


_PERIOD = re.compile(r"(\d{4})-(\d{2})(?:-(\d{2}))?")


@dataclass(frozen=True)
class Period:
    """One accounting period: its partition key and [start, end) in the books' calendar."""

    key: str
    start: date
    end: date

    @classmethod
    def parse(cls, text: str) -> Period:
        """`2026-10` or its partition key `2026-10-01`; ValueError saying what to give."""
        match = _PERIOD.fullmatch(text.strip())
        if not match or not 1 <= int(match[2]) <= 12 or match[3] not in (None, "01"):
            raise ValueError(
                f"{text!r} is not a period: give YYYY-MM (2026-10) or its partition key YYYY-MM-01"
            )
        start = date(int(match[1]), int(match[2]), 1)
        end = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
        return cls(start.isoformat(), start, end)


@dataclass(frozen=True)
class Read:
    """What a read asset produced: its tables, the (key, version) of every record read
    (audited as `read` rows), and the metadata shown on the materialization."""

    frames: Frames
    versions: list[tuple[str, str | None]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Changes:
    """What a change poll found since its cursor: the periods (partition keys) that
    have changed records, how many records each, and the cursor to poll from next."""

    periods: dict[str, int]
    cursor: str
    requests: int = 1


@dataclass(frozen=True)
class Item:
    """One source record as read, before mapping: key, version and its data."""

    key: str
    version: str | None
    data: Mapping[str, Any]


@dataclass
class Mapped:
    """The target payload of one item, or the problems that keep it from being written.

    `op` is `upsert` (create or update), `cancel` (cancel the target record, if one
    was ever created), `link` (the record came from the target, created there and
    sent here by the opposite flow of a bidirectional pair: its counterpart is looked
    up and recorded in the ledger, never written) or `ignore` (not syncable, e.g. a
    state that is not synced).
    An ignored item with a `note` is reported (e.g. a document another integration
    exported already): the note reaches the write asset's metadata."""

    payload: dict[str, Any] | None
    problems: list[tuple[str, str]] = field(default_factory=list)  # (reason, message)
    op: str = "upsert"
    note: str | None = None

    @property
    def problem(self) -> tuple[str, str] | None:
        """One (reason, message) for all problems: `mapping_missing` wins over the rest,
        then `mapping_stale`."""
        if not self.problems:
            return None
        reasons = {r for r, _ in self.problems}
        reason = next(
            (r for r in ("mapping_missing", "mapping_stale") if r in reasons), self.problems[0][0]
        )
        return reason, "; ".join(m for _, m in self.problems)


@dataclass
class Outbound:
    """One record on its way to the target: its key and period, the payload mapped for
    the target (or the problem that keeps it from being written) and the operation."""

    key: str
    partition_key: str
    payload: dict[str, Any] | None
    source_version: str | None = None
    # Set when mapping or validation failed: (reason, message).
    problem: tuple[str, str] | None = None
    # "upsert" creates or updates; "cancel" cancels the target record; "link" records
    # the target record it came from (created there, sent here by the opposite flow).
    op: str = "upsert"
    context: Mapping[str, Any] = field(default_factory=dict)
    # The payload last written to the target (from the ledger), so an update
    # sends only what changed; None when unknown (send everything).
    previous: dict[str, Any] | None = None
    # When this connector first committed its intent to create the record (UTC): no
    # target record created before then (less LOOKUP_SKEW) can be its. Set by the
    # protocol before a look-up; None for a record never intended.
    intended_at: datetime | None = None
    # The corrections already written for the record, in order (from the store), for a
    # target that writes changes after close as corrections in a later period.
    corrections: tuple[Correction, ...] = ()

    @property
    def payload_hash(self) -> str:
        return payload_hash({"op": self.op, "payload": self.payload})


def correction_key(key: str, seq: int) -> str:
    """How a record's correction `seq` is named where it is counted apart from the record
    (the reconciliation of the period it landed in): `77000123 correction 1`."""
    return f"{key} correction {seq}"


class Ambiguous(NamedTuple):
    """A look-up that must not be adopted: several records carry the marker, or one
    matches on a weaker field alone. The message names the target ids."""

    message: str


def payload_hash(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=_plain)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot hash {type(value).__name__}")
