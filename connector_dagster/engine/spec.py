"""What a flow is: its spec (reads, write, pure mapping, settings, triggers) and the
protocols its source and target implement. The engine builds everything else."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from connector_dagster import systems
from connector_dagster.engine.bounds import Amounts, Bounds
from connector_dagster.engine.protocols import Source, Target
from connector_dagster.engine.records import Frames, Item, Mapped
from connector_dagster.lib.mapping import Mappings, Table


class FlowSettings(BaseModel):
    """A flow's block under `flows:` of a connection; each flow subclasses it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True
    bounds: Bounds = Bounds()
    """Amounts and quantities beyond these are parked as `validation`, never written."""


S = TypeVar("S", bound=FlowSettings)
"""A flow's own settings model: what its source, target, map and prepare are given."""

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
    """`target(session, settings, period)` -> one (source key, target id, figures) for
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
class FlowSpec(Generic[S]):
    """One flow, declared once; the engine turns it into each connection's definitions.

    `source` and `target` are built per run from the connection's session and the
    flow's settings; `map` is pure (no I/O): item + mappings + settings -> Mapped."""

    name: str
    """Its name in the ledger and the `flows:` block, e.g. `purchase_orders`."""
    label: str
    """For people: `F1 purchase orders`."""
    record_label: str
    """How one record is named in messages, e.g. `PO`."""
    settings: type[S]
    reads: tuple[ReadSpec, ...]
    write: WriteSpec
    source: Callable[[Any, S], Source]
    """Built per step as `source(session, settings)` (session: `engine.session.Session`, which
    imports the registry of specs, hence `Any` here)."""
    target: Callable[[Any, S], Target]
    """Built per step as `target(session, settings)`."""
    map: Callable[[Item, Mappings, S], Mapped]
    tables: tuple[Table, ...] = ()
    """The mapping tables the flow reads."""
    triggers: Triggers = Triggers()
    cancel_vanished: bool = False
    """A record the ledger holds for a period but the source no longer has (deleted
    there) is cancelled in the target, like a record the source cancelled."""
    reconcile: Reconciliation | None = None
    """How the flow's records are counted when a period is reconciled."""
    prepare: Callable[[Any, S, list[Item], Mappings], Mappings] | None = None
    """Called as `prepare(session, settings, items, mappings)` before mapping, to add
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
