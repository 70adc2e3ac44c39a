"""Money (and other figures) on the assets: a flow's reconciliation figures of a set of
mapped payloads, summed per measure (PO total, debit, credit, ...), as metadata beside
the counts, so a read and a write show the amounts `reconcile` compares."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from connector_dagster.engine.spec import FlowSpec

CENT = Decimal("0.01")


def by_measure(spec: FlowSpec, payloads: Iterable[dict[str, Any]]) -> dict[str, Decimal]:
    """The flow's figures of `payloads`, summed per measure (the last dimension); empty
    for a flow without reconciliation figures."""
    if spec.reconcile is None:
        return {}
    sums: dict[str, Decimal] = {}
    for payload in payloads:
        for dims, amount in spec.reconcile.figures(payload).items():
            sums[dims[-1]] = sums.get(dims[-1], Decimal(0)) + Decimal(amount)
    return sums


def money_metadata(side: str, sums: dict[str, Decimal]) -> dict[str, float]:
    """`{side} {measure}` -> the amount, to the cent (counts such as `lines` stay whole)."""
    return {
        f"{side} {measure}": float(amount if amount == amount.to_integral() else
                                   amount.quantize(CENT))
        for measure, amount in sorted(sums.items())
    }  # fmt: skip
