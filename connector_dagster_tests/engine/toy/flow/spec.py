"""A flow on the toy system: a period's notes copied into the same system's copies,
through the registry's client (`session.toy`), the write protocol and its fence."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import pandas as pd
import pandera.pandas as pa

from connector_dagster.engine.frames import shape_problems
from connector_dagster.engine.records import Frames, Item, Mapped, Outbound, Period, Read
from connector_dagster.engine.session import Session
from connector_dagster.engine.spec import FlowSettings, FlowSpec, ReadSpec, Triggers, WriteSpec
from connector_dagster.lib.mapping import Mappings


class ToySettings(FlowSettings):
    prefix: str = "copy"


class ToySource:
    system = "toy"

    def __init__(self, session: Session, settings: ToySettings) -> None:
        self.toy = session.client("toy")

    def read(self, name: str, period: Period, upstream: Mapping[str, Frames]) -> Read:
        rows = self.toy.get(f"/notes?start={period.start}&end={period.end}")
        frame = pd.DataFrame(rows, columns=["key", "day", "text", "version"], dtype=object)
        return Read(
            {"notes": frame}, [(r["key"], r["version"]) for r in rows], {"notes": len(rows)}
        )

    def items(self, reads: Mapping[str, Frames]) -> list[Item]:
        frame = reads["toy_notes"]["notes"]
        return [Item(r["key"], r["version"], r) for r in frame.to_dict("records")]

    def changed(self, versions: Mapping[str, str | None]) -> set[str]:
        """The notes whose version moved since they were read (checked before writing)."""
        now = {n["key"]: n["version"] for n in self.toy.get("/notes?start=0&end=9")}
        return {key for key, version in versions.items() if now.get(key) != version}


class ToyTarget:
    def __init__(self, session: Session, settings: ToySettings) -> None:
        self.toy = session.client("toy")

    def lookup(self, records: Sequence[Outbound], since: datetime) -> dict[str, str]:
        wanted = {r.key for r in records}
        return {c["source"]: c["id"] for c in self.toy.get("/copies") if c["source"] in wanted}

    def create(self, record: Outbound) -> str:
        return str(self.toy.send("POST", "/copies", record.payload)["id"])

    def update(self, record: Outbound, target_id: str) -> None:
        self.toy.send("PUT", f"/copies/{target_id}", record.payload)

    def cancel(self, record: Outbound, target_id: str) -> None:
        self.toy.send("DELETE", f"/copies/{target_id}")


def map_note(item: Item, maps: Mappings, settings: ToySettings) -> Mapped:
    return Mapped({"source": item.key, "body": f"{settings.prefix}: {item.data['text']}"})


NOTES = pa.DataFrameSchema(
    {
        "key": pa.Column(str, unique=True),
        "day": pa.Column(str),
        "text": pa.Column(str),
        "version": pa.Column(str),
    },
    strict=True,
)

SPEC = FlowSpec(
    name="toy_notes",
    label="Toy: notes copied within the toy system",
    record_label="note",
    settings=ToySettings,
    reads=(
        ReadSpec(
            "toy_notes",
            "toy",
            "The period's notes.",
            check=lambda f: shape_problems(f, {"notes": NOTES}),
        ),
    ),
    write=WriteSpec("toy_copies", "toy", "The notes, copied."),
    source=ToySource,
    target=ToyTarget,
    map=map_note,
    triggers=Triggers(poll=False, close=False),
)
