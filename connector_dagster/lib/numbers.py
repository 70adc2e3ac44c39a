"""Numbers as the APIs send them (text like "273.13", JSON numbers, blanks), read
exactly as Decimal: one way for every flow, system and check."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any


def number(value: Any) -> Decimal | None:
    """`value` as a Decimal; None when it is missing (None) or a bool; NaN when it is
    not a number. A float is read from its shortest text, so 2.35 stays 2.35."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return Decimal("NaN")


def decimal_or_none(value: Any) -> Decimal | None:
    """`value` as a finite Decimal, or None when it is missing or not a finite number."""
    result = number(value)
    return result if result is not None and result.is_finite() else None


def amount(value: Any) -> Decimal:
    """`value` as a finite Decimal; ValueError naming it when it is not one."""
    result = decimal_or_none(value)
    if result is None:
        raise ValueError(f"not an amount: {value!r}")
    return result


def places(value: Decimal) -> int:
    """Decimal places of a value, trailing zeros aside (1.50 has 1, 1E+3 has 0)."""
    return max(0, -int(value.normalize().as_tuple().exponent))


def rate(value: Any, per: int) -> Decimal | None:
    """A rate as a fraction of 1, to four places (9.25 per 100 -> 0.0925); None when
    `value` is not a number."""
    found = decimal_or_none(value)
    return None if found is None else (found / per).quantize(Decimal("0.0001"))
