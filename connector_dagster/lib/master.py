"""One master record (a supplier, an account, a SKU) as a system lists it: what mapping
suggestions compare and what a write checks its mapping entries against."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Record:
    """One master record: the code the mapping file keys it by (or holds as the value),
    the number both sides may carry, its name and whether it is active (a blocked IFS
    record is not)."""

    code: str
    name: str
    active: bool = True
    number: str = ""
    value: Any = None
    """The mapping entry's value when this record is the target."""
    rate: Decimal | None = None
    """A tax rate as a fraction (0.0925), where the record has one."""

    def label(self) -> str:
        number = f" no. {self.number}" if self.number and self.number != self.code else ""
        return f"{self.code}{number} {self.name!r}{'' if self.active else ' (inactive)'}"
