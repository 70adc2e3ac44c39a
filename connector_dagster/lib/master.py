"""One master record (a supplier, an account, a SKU, a site) as a system lists it: what
mapping suggestions compare and what a write checks its mapping entries against."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

PLACE = ("street", "unit", "city", "state", "zip", "country")
_STREET_WORDS = {
    "street": "st", "avenue": "ave", "road": "rd", "boulevard": "blvd", "drive": "dr",
    "lane": "ln", "suite": "ste", "highway": "hwy", "parkway": "pkwy", "court": "ct",
    "place": "pl", "north": "n", "south": "s", "east": "e", "west": "w",
}  # fmt: skip


@dataclass(frozen=True)
class Record:
    """One master record: the code the mapping file keys it by (or holds as the value),
    the number both sides may carry, its name and whether it is active."""

    code: str
    name: str
    active: bool = True
    number: str = ""
    value: Any = None
    """The mapping entry's value when this record is the target."""
    rate: Decimal | None = None
    """A tax rate as a fraction (0.0925), where the record has one."""
    place: dict[str, str] = field(default_factory=dict)
    """Its address (`PLACE` keys), where it has one."""
    kind: str = ""
    """A ServiceTitan GL account's default account type (`SalesTaxPayable`)."""
    note: str = ""
    """More evidence for the entry's value, said when the record is proposed."""
    problem: str = ""
    """Why no entry can be made of this target (its value is incomplete)."""
    cap: float = 1.0
    """The most confidence a proposal of it gets (its value's other half rests on
    weaker evidence)."""

    def label(self) -> str:
        number = f" no. {self.number}" if self.number and self.number != self.code else ""
        return f"{self.code}{number} {self.name!r}{'' if self.active else ' (inactive)'}"

    @property
    def address(self) -> str:
        """The address as compared: `100 Main Street, Glendale CA 91203-1234` ->
        `100 main st glendale ca 91203`; empty without a street."""
        if not self.place.get("street"):
            return ""
        parts = [self.place.get(k, "") for k in ("street", "unit", "city", "state")]
        text = unicodedata.normalize("NFKD", " ".join([*parts, self.place.get("zip", "")[:5]]))
        text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
        words = re.sub(r"[^\w]+", " ", text).split()
        return " ".join(_STREET_WORDS.get(w, w) for w in words)
