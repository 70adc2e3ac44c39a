"""What a flow is: its spec (reads, write, pure mapping, settings, triggers) and the
protocols its source and target implement. The engine builds everything else."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

import pandas as pd
from pydantic import BaseModel, ConfigDict

from connector_dagster import systems
from connector_dagster.engine.bounds import Amounts, Bounds
from connector_dagster.engine.sync import Target
from connector_dagster.lib.mapping import Mappings, Table

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
        """One (reason, message) for all problems: `mapping_missing` wins over the rest."""
        if not self.problems:
            return None
        reasons = {r for r, _ in self.problems}
        reason = "mapping_missing" if "mapping_missing" in reasons else self.problems[0][0]
        return reason, "; ".join(m for _, m in self.problems)


class FlowSettings(BaseModel):
    """A flow's block under `flows:` of a connection; each flow subclasses it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True
    bounds: Bounds = Bounds()
    """Amounts and quantities beyond these are parked as `validation`, never written."""


class Source(Protocol):
    """The system a flow reads: a period's records, and what changed since they were read."""

    system: str
    """For people: `IFS` or `ServiceTitan`."""

    def read(self, name: str, period: Period, upstream: Mapping[str, Frames]) -> Read:
        """The read asset `name` for `period`; `upstream` holds the reads it depends on."""
        ...

    def items(self, reads: Mapping[str, Frames]) -> list[Item]:
        """Every record of the period's reads, one item each, in a stable order."""
        ...

    def changed(self, versions: Mapping[str, str | None]) -> set[str]:
        """Keys whose version in the source is no longer the one read (or that are gone)."""
        ...


class EventPeriods(Protocol):
    """A source that says which periods webhook events touch (an invoice event, its
    invoice's period; a job event, the periods of the job's invoices)."""

    def event_periods(self, events: Sequence[Any]) -> dict[int, set[str]]:
        """Inbox row id -> partition keys it touches (empty: none this flow syncs)."""
        ...


class ChangePoll(Protocol):
    """A source that can say, cheaply, what changed since a cursor (of any period):
    one request when nothing changed. The flow's change sensor polls it."""

    def changes(self, cursor: str | None) -> Changes:
        """Changes after `cursor`; with no cursor, none, and the cursor of now."""
        ...


Dims = tuple[str, ...]
Figures = dict[Dims, Decimal]
"""Amounts by dimension, e.g. ("401", "501", "debit") -> 123.45."""
TargetRecord = tuple[str, str, Figures]
"""(source key, target id, figures) of one record found in the target."""


@dataclass(frozen=True)
class Reconciliation:
    """How a flow's records are counted, for reconciliation."""

    dimensions: tuple[str, ...]
    """Names of a figure's dimensions, the last being the measure, e.g.
    ("GL account", "business unit", "measure")."""
    figures: Callable[[dict[str, Any]], Figures]
    """The figures of one mapped payload (pure)."""
    target: Callable[..., Iterable[TargetRecord]]
    """`target(link, settings, period)` -> one (source key, target id, figures) for
    every target record of the period that carries this connection's provenance, two
    records of one source key included: the engine counts each, a duplicate is a
    difference."""


@dataclass(frozen=True)
class ReadSpec:
    """One read asset of a flow."""

    name: str
    """Asset name under the connection's prefix, e.g. `ifs_purchase_orders`."""
    system: str
    """The API it calls (`ifs` or `servicetitan`): its concurrency pool."""
    description: str
    check: Callable[[Frames], list[str]]
    """The blocking shape check (pandera): problems, empty when the read may be written."""
    record_check: Callable[[Frames], list[str]] | None = None
    """A check of single records (pandera), a warning: the records it names are parked
    one by one by the write step, so it never blocks the period."""
    deps: tuple[str, ...] = ()
    """Other reads of the flow it needs, e.g. the jobs of the period's invoices."""


@dataclass(frozen=True)
class WriteSpec:
    """The write asset of a flow."""

    name: str
    system: str
    description: str


@dataclass(frozen=True)
class Triggers:
    """What starts runs of a flow: intraday polling of the open period, the close cycle,
    and a change sensor (its source must implement `ChangePoll`) that requests a run
    of every period, however old, whose records changed."""

    poll: bool = True
    close: bool = True
    change_sensor: bool = False
    inbox_events: tuple[str, ...] = ()
    """Webhook event types (e.g. `tn.acc.invoice-posted`) whose arrival in the inbox
    starts a run; the source must implement `EventPeriods`. An event type belongs to
    one flow."""


@dataclass(frozen=True)
class FlowSpec:
    """One flow, declared once; the engine turns it into each connection's definitions.

    `source` and `target` are built per run from the connection's link and the
    flow's settings; `map` is pure (no I/O): item + mappings + settings -> Mapped."""

    name: str
    """Its name in the ledger and the `flows:` block, e.g. `purchase_orders`."""
    label: str
    """For people: `F1 purchase orders`."""
    record_label: str
    """How one record is named in messages, e.g. `PO`."""
    settings: type[FlowSettings]
    reads: tuple[ReadSpec, ...]
    write: WriteSpec
    source: Callable[..., Source]
    """Built per step as `source(link, settings)` (link: `engine.link.Link`)."""
    target: Callable[..., Target]
    """Built per step as `target(link, settings)`."""
    map: Callable[[Item, Mappings, Any], Mapped]
    tables: tuple[Table, ...] = ()
    """The mapping tables the flow reads."""
    triggers: Triggers = Triggers()
    cancel_vanished: bool = False
    """A record the ledger holds for a period but the source no longer has (deleted
    there) is cancelled in the target, like a record the source cancelled."""
    reconcile: Reconciliation | None = None
    """How the flow's records are counted when a period is reconciled."""
    prepare: Callable[..., Mappings] | None = None
    """Called as `prepare(link, settings, items, mappings)` before mapping, to add
    mapping entries it can create in the target (I/O allowed); returns the mappings
    to map with."""
    amounts: Amounts | None = None
    """Which payload fields are amounts and quantities: the engine parks a payload
    outside the connection's `bounds` for the flow."""

    def __post_init__(self) -> None:
        names = [r.name for r in self.reads]
        if not names:
            raise ValueError(f"flow {self.name}: needs at least one read")
        if len(set(names)) != len(names) or self.write.name in names:
            raise ValueError(f"flow {self.name}: asset names must be distinct")
        for spec in (*self.reads, self.write):
            if spec.system not in systems.registered():
                raise ValueError(
                    f"flow {self.name}: {spec.name}: system must be one of "
                    f"{', '.join(systems.names())}"
                )
        for read in self.reads:
            unknown = set(read.deps) - set(names)
            if unknown:
                raise ValueError(f"flow {self.name}: {read.name} depends on unknown {unknown}")
        if self.triggers.change_sensor and not callable(getattr(self.source, "changes", None)):
            raise ValueError(f"flow {self.name}: a change sensor needs a source with changes()")
        if self.triggers.inbox_events and not callable(getattr(self.source, "event_periods", None)):
            raise ValueError(f"flow {self.name}: an inbox sensor needs event_periods()")
