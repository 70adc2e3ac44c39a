"""Sane bounds on what a flow writes: each flow declares which fields of its mapped
payload are amounts and quantities (`Amounts`), each connection bounds them per flow
(`Bounds`, under `flows: <flow>: bounds:`), and a payload outside them is parked as
`validation`, never written. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import partial
from string import Formatter
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from connector_dagster.lib.numbers import number, places


class Bounds(BaseModel):
    """A flow's bounds on amounts and quantities; the defaults fit a regional
    contractor's books (no line or document of 100 million, no order of a million units,
    no price finer than a hundredth of a cent)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    max_amount: Decimal = Field(Decimal(10**8), gt=0)
    """The largest amount, in either sign: a unit price, a line's or row's amount, tax,
    a document's total."""
    max_quantity: Decimal = Field(Decimal(10**6), gt=0)
    """The largest quantity of one line, in either sign."""
    decimal_places: int = Field(4, ge=0, le=10)
    """The most decimal places an amount or quantity may have (a finer one, like
    0.0000001, would be rounded by the target or lost)."""


@dataclass(frozen=True)
class Amounts:
    """Which fields of a flow's mapped payload are amounts and quantities.

    A field is a path into the payload, `[]` after a name stepping into each element of
    a list (`items[].cost`), with a label for people; a label may name the element's
    position `{n}` (from 1) and its fields (`item {n} ({vendorPartNumber}) cost`).
    `total` sums a payload into its document total (pure), also bounded."""

    amounts: Mapping[str, str] = field(default_factory=dict)
    quantities: Mapping[str, str] = field(default_factory=dict)
    total: Callable[[Mapping[str, Any]], Decimal] | None = None
    total_label: str = "total"


def out_of_bounds(
    payload: Mapping[str, Any],
    amounts: Amounts,
    bounds: Bounds,
    who: str,
    fix: str,
    flow: str,
) -> list[str]:
    """What is outside the bounds in one payload, each naming the record (`who`), the
    field, the value and the bound, and the fix: correct it in the source system (`fix`)
    or change the bound of the flow (`flow`)."""
    problems: list[str] = []
    kinds = (
        ("max_amount", bounds.max_amount, amounts.amounts),
        ("max_quantity", bounds.max_quantity, amounts.quantities),
    )
    for setting, limit, fields in kinds:
        for path, label in fields.items():
            for named, value in _values(payload, path, label):
                problems.extend(_check(named, value, setting, limit, bounds, who, (fix, flow)))
    if amounts.total is not None and not problems:
        try:
            total = amounts.total(payload)
        except (TypeError, InvalidOperation, KeyError, ValueError):
            total = None
        if total is not None:
            problems.extend(
                _check(amounts.total_label, total, "max_amount", bounds.max_amount, bounds,
                       who, (fix, flow), places_too=False)
            )  # fmt: skip
    return problems


def _check(
    label: str | Callable[[], str],
    value: Decimal | None,
    setting: str,
    limit: Decimal,
    bounds: Bounds,
    who: str,
    fix: tuple[str, str],
    places_too: bool = True,
) -> list[str]:
    if value is None:
        return []
    finite = value.is_finite()
    too_precise = places_too and finite and places(value) > bounds.decimal_places
    if finite and abs(value) <= limit and not too_precise:
        return []
    named = label() if callable(label) else label  # made for a problem only
    if not finite:
        return [f"{who}: {named} {value} is not a number; correct it in {fix[0]}"]
    if abs(value) > limit:
        return [
            f"{who}: {named} {value:f} is above the flow's bound {limit:f} (bounds.{setting}): "
            + _then(setting, fix)
        ]
    return [
        f"{who}: {named} {value:f} has {places(value)} decimal places, more than the "
        f"flow's bound {bounds.decimal_places} (bounds.decimal_places): "
        + _then("decimal_places", fix)
    ]


def _then(setting: str, fix: tuple[str, str]) -> str:
    system, flow = fix
    return (
        f"correct it in {system}, or change `bounds: {{{setting}: ...}}` under `flows: "
        f"{flow}:` of the connection, then replay this record"
    )


class _Fields(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def _label(label: str, n: int | None, element: Any) -> str:
    known = _Fields(element if isinstance(element, Mapping) else {})
    if n is not None:
        known["n"] = n
    return Formatter().vformat(label, (), known)


def _values(
    payload: Any, path: str, label: str
) -> Iterator[tuple[Callable[[], str], Decimal | None]]:
    """(label, value) of each value the path reaches in the payload; the label is made
    when it is called (for a value out of bounds), not for every value checked."""

    def walk(node: Any, steps: list[str], n: int | None, element: Any) -> Iterator:
        if not steps:
            yield partial(_label, label, n, element), number(node)
            return
        step, rest = steps[0], steps[1:]
        if not isinstance(node, Mapping):
            return
        if step.endswith("[]"):
            for i, child in enumerate(node.get(step[:-2]) or [], 1):
                yield from walk(child, rest, i, child)
        elif step in node:
            yield from walk(node[step], rest, n, element)

    yield from walk(payload, path.split("."), None, None)
