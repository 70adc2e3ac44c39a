"""Assembles the code location from the `defs/` folder: each flow folder and the
shared resources define themselves; nothing here names a flow."""

from __future__ import annotations

from pathlib import Path

import dagster as dg


def build_defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)


defs = build_defs()
