"""What F3 uses of ServiceTitan and IFS, for `connector-dagster check`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connector_dagster.kits.postings.uses import POSTING_SETS
from connector_dagster.lib.numbers import decimal_or_none
from connector_dagster.onboarding.servicetitan import Resource

USES = (
    Resource("accounting", "invoices", writes=("POST markasexported",)),
    Resource("jpm", "jobs"),
    *POSTING_SETS,
)


def AMOUNT(data: dict[str, Any]) -> Decimal | None:
    """An invoice's amount: its total."""
    return decimal_or_none(data["invoice"].get("total"))
