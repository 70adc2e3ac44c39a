"""An IO manager that keeps what read assets produce (tables of records) in PostgreSQL.

Values are dicts of pandas DataFrames (or one DataFrame); they are stored as
JSON, with Decimals and dates as strings, so no step depends on a local disk. A
frame is written as the JSON text pandas makes of it and read back one frame at a
time, CHUNK rows at a time each way: a large period's snapshot is never held whole,
as text or parsed.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from connector_dagster.lib import db
from connector_dagster.lib.store import Store

Frames = dict[str, pd.DataFrame]

CHUNK = 5000
"""Rows of a frame sent or read at a time."""


def _rows_json(frame: pd.DataFrame) -> str:
    return frame.to_json(orient="values", date_format="iso", default_handler=str, force_ascii=False)


def _parts(path: list[str], frame: pd.DataFrame) -> tuple[str, Iterator[tuple[list[str], str]]]:
    """A frame as the JSON text of its columns and its first rows, and the JSON text of
    the rows after them, CHUNK at a time (to be added to the array at `path`)."""
    head = {"columns": list(frame.columns)}
    first = (
        f'{json.dumps(head, ensure_ascii=False)[:-1]}, "rows": {_rows_json(frame.iloc[:CHUNK])}}}'
    )
    rest = (
        ([*path, "rows"], _rows_json(frame.iloc[start : start + CHUNK]))
        for start in range(CHUNK, len(frame), CHUNK)
    )
    return first, rest


def _frame(columns: list[str], size: int, batches: Iterator[list[Any]]) -> pd.DataFrame:
    """A frame of `size` rows read in batches into its one block of objects, the text
    that repeats in a column one object (JSON gives each cell its own)."""
    block = np.empty((size, len(columns)), dtype=object)
    shared: list[dict[str, str]] = [{} for _ in columns]
    start = 0
    for batch in batches:
        for n, row in enumerate(batch, start):
            for c, value in enumerate(row):
                if type(value) is str:
                    value = shared[c].setdefault(value, value)
                block[n, c] = value
        start += len(batch)
    return pd.DataFrame(block[:start], columns=columns, dtype=object, copy=False)


class SnapshotIOManager(dg.ConfigurableIOManager):
    """Asset values in `connector.asset_snapshots`, one row per asset and partition, on
    `database_url` (set with `dg.EnvVar`; unset, CONNECTOR_DATABASE_URL when used)."""

    database_url: str | None = Field(
        default=None, description="the connector's PostgreSQL (CONNECTOR_DATABASE_URL)"
    )

    def _store(self) -> Store:
        url = db.validate_url(self.database_url) if self.database_url else db.database_url()
        return Store(url, max_connections=1)

    @staticmethod
    def _where(context: dg.OutputContext | dg.InputContext) -> tuple[str, str]:
        key = context.asset_key.to_user_string()
        partition = context.asset_partition_key if context.has_asset_partitions else ""
        return key, partition

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        store = self._store()
        try:
            save(store, *self._where(context), obj)
        finally:
            store.close()

    def load_input(self, context: dg.InputContext) -> Any:
        key, partition = self._where(context)
        store = self._store()
        try:
            found = load(store, key, partition)
        finally:
            store.close()
        if found is None:
            raise dg.Failure(
                f"{key} has not been materialized for partition {partition or '(none)'}: "
                "materialize it first"
            )
        return found


def save(
    store: Store, key: str, partition: str, obj: pd.DataFrame | dict[str, pd.DataFrame]
) -> None:
    """Keep a read's frames (or one frame) as the snapshot of `key` and `partition`."""
    if isinstance(obj, pd.DataFrame):
        first, appends = _parts(["frame"], obj)
        text = f'{{"frame": {first}}}'
    else:
        parts = {name: _parts(["frames", name], f) for name, f in obj.items()}
        heads = (f"{json.dumps(name)}: {first}" for name, (first, _) in parts.items())
        text = f'{{"frames": {{{", ".join(heads)}}}}}'
        appends = itertools.chain.from_iterable(rest for _, rest in parts.values())
    store.save_snapshot_json(key, partition, text, appends)


def load(store: Store, key: str, partition: str) -> Any:
    """What `save` kept, or None if nothing was."""
    names = store.snapshot_frames(key, partition)
    if names is None:
        return None
    if not names:
        return _frame(*store.snapshot_frame(key, partition, None, CHUNK))
    return _frames(store, key, partition, names)


def _frames(store: Store, key: str, partition: str, names: Sequence[str]) -> Frames:
    return {name: _frame(*store.snapshot_frame(key, partition, name, CHUNK)) for name in names}


def asset_key(connection: str, read: str) -> str:
    """The key a connection's read asset `read` is kept under (its asset key as text)."""
    return dg.AssetKey([connection, read]).to_user_string()


def last_read(
    store: Store, connection: str, read: str, partition: str, names: Sequence[str]
) -> Frames | None:
    """The frames `names` of the snapshot the read asset `read` of `connection` last kept
    for `partition`, each read as `load` reads it; None if there is none, or it lacks one
    of them (kept by an earlier version of the read)."""
    key = asset_key(connection, read)
    kept = store.snapshot_frames(key, partition)
    if not kept or any(name not in kept for name in names):
        return None
    return _frames(store, key, partition, names)
