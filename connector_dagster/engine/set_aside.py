"""Set failed records aside by a person's decision: `resolved` (handled outside the
connector, e.g. corrected by hand in the target) or `ignored` (it need not be synced,
e.g. a change to a PO that IFS has Closed), each with a note and a name kept in the
audit trail. The same operation for the CLI (`failed resolve|ignore`) and finance's page.

A record set aside is not tried again while it maps to the same payload from the same
source version; its period counts as clean wherever open failures are counted (the
partition's summary, reconciliation, alerts). A change to the record makes it a
record like any other again: written, or parked as a new open failure.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from connector_dagster.engine import registry
from connector_dagster.engine.summary import period_summary, summary_metadata
from connector_dagster.lib.settings import ConfigError
from connector_dagster.lib.store import RESOLUTIONS, FailedRecord, Store

MAX_NOTE = 2000
MAX_NAME = 100
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def check_note(note: str | None, field: str = "--note") -> str:
    """The note, trimmed; ConfigError naming `field` when it is empty or unusable."""
    note = (note or "").strip()
    if not note:
        raise ConfigError(f"{field} is empty: say why the record will never be written")
    if len(note) > MAX_NOTE:
        raise ConfigError(f"{field} has {len(note)} characters; keep it to {MAX_NOTE}")
    if _CONTROL.search(note):
        raise ConfigError(f"{field} holds a control character; use plain text")
    return note


def check_name(by: str | None, field: str = "--by") -> str:
    """Who decides, trimmed: one line of at most MAX_NAME characters."""
    by = (by or "").strip()
    if not by:
        raise ConfigError(f"{field} is empty: give the name of the person who decides")
    if len(by) > MAX_NAME or "\n" in by or _CONTROL.search(by):
        raise ConfigError(f"{field} must be a name on one line of at most {MAX_NAME} characters")
    return by


@dataclass(frozen=True)
class Decision:
    """What a person decided for some failed records, and which records it closed."""

    connection: str
    resolution: str
    by: str
    note: str
    records: list[FailedRecord]

    @property
    def untracked(self) -> list[FailedRecord]:
        """Records whose failure was recorded before the payload that failed was (before
        migration 0009): later runs cannot tell them unchanged, so the next one tries
        them again, and a new failure of theirs can be set aside for good."""
        return [r for r in self.records if r.payload_hash is None]

    def periods(self) -> list[tuple[str, str]]:
        """(flow, partition key) of each period the decision touched."""
        return sorted({(r.flow, r.partition_key) for r in self.records if r.partition_key})


def select(
    store: Store,
    connection: str,
    keys: Iterable[str] = (),
    ids: Iterable[int] = (),
    flow: str | None = None,
) -> list[FailedRecord]:
    """The open failed records named by source key or id; ConfigError naming the first
    key or id that names none (or, for a key, records of several flows)."""
    keys, ids = list(dict.fromkeys(keys)), list(dict.fromkeys(ids))
    if not keys and not ids:
        raise ConfigError("name at least one failed record (its source key, e.g. PO-2026-00157)")
    open_ = store.failed(connection=connection, flow=flow)
    where = f"connection {connection!r}" + (f", flow {flow!r}" if flow else "")
    chosen: list[FailedRecord] = []
    for key in keys:
        found = [r for r in open_ if r.source_key == key]
        if not found:
            raise ConfigError(
                f"record {key!r}: no open failed record on {where} (`connector-dagster failed "
                f"list --connection {connection}` lists them)"
            )
        if len(found) > 1:
            flows = ", ".join(sorted(r.flow for r in found))
            raise ConfigError(
                f"record {key!r}: open failed records in several flows ({flows}); name one "
                "with --flow"
            )
        chosen += found
    by_id = {r.id: r for r in open_}
    for failed_id in ids:
        if failed_id not in by_id:
            raise ConfigError(f"failed record #{failed_id}: not an open failed record of {where}")
        chosen.append(by_id[failed_id])
    return list({r.id: r for r in chosen}.values())


def decide(
    store: Store,
    connection: str,
    resolution: str,
    note: str,
    by: str,
    keys: Iterable[str] = (),
    ids: Iterable[int] = (),
    flow: str | None = None,
) -> Decision:
    """Resolve or ignore the named open failed records with a note and a name."""
    if resolution not in RESOLUTIONS:
        raise ConfigError(f"unknown resolution {resolution!r}; one of {', '.join(RESOLUTIONS)}")
    note, by = check_note(note), check_name(by)
    records = select(store, connection, keys, ids, flow)
    closed = store.set_aside(records, resolution, note, by)
    return Decision(connection, resolution, by, note, closed)


def open_left(store: Store, decision: Decision) -> dict[tuple[str, str], int]:
    """Open failed records left in each period the decision touched."""
    return {
        (flow, period): len(store.failed(connection=decision.connection, flow=flow,
                                         partition_key=period))
        for flow, period in decision.periods()
    }  # fmt: skip


def clean_period_events(store: Store, decision: Decision) -> Iterator[object]:
    """A materialization of each touched period left with no open failed record, with
    its totals: its partition turns green in Dagster, saying who decided."""
    import dagster as dg

    for flow, period in decision.periods():
        summary = period_summary(store, decision.connection, flow, period)
        if summary.failed:
            continue
        count = sum(1 for r in decision.records if (r.flow, r.partition_key) == (flow, period))
        yield dg.AssetMaterialization(
            asset_key=[decision.connection, registry.flow(flow).write.name],
            partition=period,
            description=f"{count} failed record(s) {decision.resolution} by {decision.by}: the "
            "period has none left.",
            metadata={
                **summary_metadata(summary),
                decision.resolution: count,
                "by": decision.by,
                "note": decision.note,
                "trigger": decision.resolution,
            },
        )


def report_to_dagster(store: Store, decision: Decision) -> int:
    """Tell Dagster's instance (when DAGSTER_HOME names one) about each period the
    decision left clean; returns how many."""
    if not os.environ.get("DAGSTER_HOME"):
        return 0
    import dagster as dg

    events = list(clean_period_events(store, decision))
    if events:
        with dg.DagsterInstance.get() as instance:
            for event in events:
                instance.report_runless_asset_event(event)  # type: ignore[arg-type]
    return len(events)
