"""A read's frames kept in PostgreSQL and read back a piece at a time: a frame of more
rows than a piece comes back whole, in order, its values as they were."""

from __future__ import annotations

import pandas as pd
import pytest

from connector_dagster.engine import snapshots
from connector_dagster.lib.store import Store


def test_frames_of_more_rows_than_a_piece_come_back_whole(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshots, "CHUNK", 3)
    frames = {
        "headers": pd.DataFrame(
            {
                "OrderNo": [f"PO-{n}" for n in range(10)],
                "Qty": [n / 2 for n in range(10)],
                "Note": [None, 'Zoë \u2013 "quoted"'] * 5,
            },
            dtype=object,
        ),
        "lines": pd.DataFrame(columns=["OrderNo", "LineNo"], dtype=object),
        "period": pd.DataFrame(
            [["2026-10-01", "2026-10-01", "2026-11-01"]],
            columns=["key", "start", "end"],
            dtype=object,
        ),
    }
    snapshots.save(store, "sandbox/reads", "2026-10-01", frames)
    back = snapshots.load(store, "sandbox/reads", "2026-10-01")
    assert set(back) == set(frames)
    for name, frame in frames.items():
        assert back[name].columns.tolist() == frame.columns.tolist()
        assert back[name].to_dict("split") == frame.to_dict("split")
    snapshots.save(store, "sandbox/reads", "2026-10-01", frames["headers"].iloc[:4])
    again = snapshots.load(store, "sandbox/reads", "2026-10-01")
    assert again.to_dict("split") == frames["headers"].iloc[:4].to_dict("split")
    assert snapshots.load(store, "sandbox/reads", "2026-09-01") is None
