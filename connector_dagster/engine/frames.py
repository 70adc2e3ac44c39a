"""The shape check every flow's read gets: each frame validated by its pandera schema,
the problems named by frame, column and value."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import pandera.pandas as pa

CASES_SHOWN = 20
"""Failure cases named per frame; the rest are counted in the same check run."""


def clean(frame: pd.DataFrame) -> pd.DataFrame:
    """A read frame as pandera sees it: plain objects, a missing value as None."""
    return frame.astype(object).where(frame.notna(), None)


def shape_problems(
    frames: Mapping[str, pd.DataFrame], schemas: Mapping[str, pa.DataFrameSchema]
) -> list[str]:
    """Each named frame validated by its schema: `frame.column: check failed for
    value`, at most CASES_SHOWN per frame; a frame the read lacks is named too."""
    problems: list[str] = []
    for name, schema in schemas.items():
        if name not in frames:
            problems.append(f"{name}: missing from the read")
            continue
        try:
            schema.validate(clean(frames[name]), lazy=True)
        except pa.errors.SchemaErrors as exc:
            problems.extend(
                f"{name}.{row.column}: {row.check} failed for {row.failure_case!r}"
                for row in exc.failure_cases.head(CASES_SHOWN).itertuples()
            )
    return problems
