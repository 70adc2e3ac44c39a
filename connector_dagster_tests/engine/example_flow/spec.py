"""The example flow: notes of a period copied from one in-memory system to another."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd
import pandera.pandas as pa

from connector_dagster.engine.frames import shape_problems
from connector_dagster.engine.records import Frames, Item, Mapped, Outbound, Period, Read
from connector_dagster.engine.session import Session
from connector_dagster.engine.spec import FlowSettings, FlowSpec, ReadSpec, Triggers, WriteSpec
from connector_dagster.lib.mapping import Mappings, Table

NOTES: dict[str, dict[str, Any]] = {
    "N-1": {"key": "N-1", "day": "2026-10-03", "text": "first", "version": "1"},
    "N-2": {"key": "N-2", "day": "2026-10-20", "text": "second", "version": "1"},
    "N-3": {"key": "N-3", "day": "2026-11-02", "text": "next month", "version": "1"},
}
"""The source system's records, by key."""
WRITTEN: dict[str, dict[str, Any]] = {}
"""The target system's records, by target id."""


class ExampleSettings(FlowSettings):
    prefix: str = "note"


class NotesSource:
    system = "the notes source"

    def __init__(self, session: Session, settings: ExampleSettings) -> None:
        self.settings = settings

    def read(self, name: str, period: Period, upstream: Mapping[str, Frames]) -> Read:
        rows = [
            n for n in NOTES.values() if period.start <= date.fromisoformat(n["day"]) < period.end
        ]
        frame = pd.DataFrame(rows, columns=["key", "day", "text", "version"], dtype=object)
        return Read(
            {"notes": frame}, [(r["key"], r["version"]) for r in rows], {"notes": len(rows)}
        )

    def items(self, reads: Mapping[str, Frames]) -> list[Item]:
        frame = reads["source_notes"]["notes"]
        return [Item(r["key"], r["version"], r) for r in frame.to_dict("records")]

    def changed(self, versions: Mapping[str, str | None]) -> set[str]:
        return {k for k, v in versions.items() if NOTES.get(k, {}).get("version") != v}

    def event_periods(self, events: Sequence[Any]) -> dict[int, set[str]]:
        """A `note.changed` event names its note's day."""
        return {e.id: {f"{e.body['data']['day'][:7]}-01"} for e in events}


class NotesTarget:
    def __init__(self, session: Session, settings: ExampleSettings) -> None:
        self.settings = settings

    def lookup(self, records: Sequence[Outbound], since: datetime) -> dict[str, str]:
        wanted = {r.key for r in records}
        return {n["source"]: tid for tid, n in WRITTEN.items() if n["source"] in wanted}

    def create(self, record: Outbound) -> str:
        target_id = f"T-{len(WRITTEN) + 1}"
        WRITTEN[target_id] = dict(record.payload or {})
        return target_id

    def update(self, record: Outbound, target_id: str) -> None:
        WRITTEN[target_id] = dict(record.payload or {})

    def cancel(self, record: Outbound, target_id: str) -> None:
        WRITTEN.pop(target_id, None)


def map_note(item: Item, maps: Mappings, settings: ExampleSettings) -> Mapped:
    text = item.data["text"]
    if not text:
        return Mapped(None, [("validation", f"note {item.key!r}: text is empty; write one")])
    return Mapped({"source": item.key, "body": f"{settings.prefix}: {text}"})


NOTES_READ = pa.DataFrameSchema(
    {
        "key": pa.Column(str, unique=True),
        "day": pa.Column(str, pa.Check.str_matches(r"^\d{4}-\d{2}-\d{2}$")),
        "text": pa.Column(str, nullable=True),
        "version": pa.Column(str),
    },
    strict=True,
)


def check(frames: Frames) -> list[str]:
    """The blocking shape check of the read (pandera), as every flow has one."""
    return shape_problems(frames, {"notes": NOTES_READ})


SPEC = FlowSpec(
    name="example_notes",
    label="Example: notes from one system into another",
    record_label="note",
    settings=ExampleSettings,
    reads=(ReadSpec("source_notes", "ifs", "The period's notes.", check=check),),
    write=WriteSpec("target_notes", "servicetitan", "The notes, written."),
    source=NotesSource,
    target=NotesTarget,
    map=map_note,
    tables=(Table("note_kinds", "unused: shows a flow declaring its own mapping table"),),
    triggers=Triggers(poll=True, close=False, inbox_events=("note.changed",)),
)
