"""An IO manager that keeps what read assets produce (tables of records) in PostgreSQL.

Values are dicts of pandas DataFrames (or one DataFrame); they are stored as
JSON, with Decimals and dates as strings, so no step depends on a local disk. A
frame is written as the JSON text pandas makes of it and read back one frame at a
time: a large period's snapshot is never held as one parsed value.
"""

from __future__ import annotations

import json
from typing import Any

import dagster as dg
import pandas as pd
from pydantic import Field

from connector_dagster.lib import db
from connector_dagster.lib.store import Store


def _frame_json(frame: pd.DataFrame) -> str:
    """`{"columns": [...], "rows": [[...], ...]}` of a frame, as JSON text."""
    rows = frame.to_json(orient="values", date_format="iso", default_handler=str, force_ascii=False)
    return f'{{"columns": {json.dumps(list(frame.columns), ensure_ascii=False)}, "rows": {rows}}}'


def _rows_to_frame(data: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(data["rows"], columns=data["columns"], dtype=object)


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
        if isinstance(obj, pd.DataFrame):
            text = f'{{"frame": {_frame_json(obj)}}}'
        else:
            parts = (f"{json.dumps(name)}: {_frame_json(f)}" for name, f in obj.items())
            text = f'{{"frames": {{{", ".join(parts)}}}}}'
        store = self._store()
        try:
            store.save_snapshot_json(*self._where(context), text)
        finally:
            store.close()

    def load_input(self, context: dg.InputContext) -> Any:
        key, partition = self._where(context)
        store = self._store()
        try:
            names = store.snapshot_frames(key, partition)
            if names is None:
                raise dg.Failure(
                    f"{key} has not been materialized for partition {partition or '(none)'}: "
                    "materialize it first"
                )
            if not names:
                return _rows_to_frame(store.snapshot_frame(key, partition, None))
            return {
                name: _rows_to_frame(store.snapshot_frame(key, partition, name)) for name in names
            }
        finally:
            store.close()
