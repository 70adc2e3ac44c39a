"""Tools shared by the ServiceTitan seed generators: cheap seeded dice, the months
of the world's window, time units in microseconds."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import TypeVar

from connector_dagster.sandbox import world
from connector_dagster.sandbox.servicetitan.common import to_us

T = TypeVar("T")


MINUTE = 60_000_000


HOUR = 60 * MINUTE


DAY = 24 * HOUR


class Dice(random.Random):
    """`random.Random` with cheaper draws (the seed's hot loops call millions)."""

    def below(self, n: int) -> int:
        return int(self.random() * n)

    def span(self, lo: int, hi: int) -> int:
        """lo <= x < hi."""
        return lo + int(self.random() * (hi - lo))

    def between(self, lo: int, hi: int) -> int:
        """lo <= x <= hi."""
        return lo + int(self.random() * (hi - lo + 1))

    def pick(self, seq: Sequence[T]) -> T:
        return seq[int(self.random() * len(seq))]


def months() -> list[tuple[int, int]]:
    start = date.fromisoformat(world.WINDOW_START)
    end = date.fromisoformat(world.WINDOW_END)
    out, y, m = [], start.year, start.month
    while (y, m) <= (end.year, end.month):
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def month_span(y: int, m: int) -> tuple[int, int]:
    start = to_us(datetime(y, m, 1, tzinfo=UTC))
    ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
    return start, to_us(datetime(ny, nm, 1, tzinfo=UTC))
