"""What F2 uses of IFS and ServiceTitan, for `connector-dagster check`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connector_dagster.defs.gl_postings.source import HEAD_FIELDS, ROW_FIELDS
from connector_dagster.lib.numbers import decimal_or_none
from connector_dagster.onboarding.ifs import EntitySet
from connector_dagster.onboarding.servicetitan import Resource

USES = (
    EntitySet("headers_set", reads=tuple(HEAD_FIELDS)),
    EntitySet("rows_set", reads=tuple(ROW_FIELDS), field_settings=("cost_centre_part",)),
    EntitySet("accounts_set", reads=("Company", "Account", "Description", "AccntType")),
    EntitySet("history_set", reads=("LogId", "LuName", "Keys")),
    Resource("accounting", "journal-entries", writes=("POST", "PATCH", "DELETE")),
    Resource("accounting", "gl-accounts", writes=("POST",)),
    Resource("inventory", "vendors"),
)


def AMOUNT(data: dict[str, Any]) -> Decimal:
    """A proposal's amount: the sum of its rows' debits."""
    return sum((decimal_or_none(r.get("DebetAmount")) or 0 for r in data["rows"]), Decimal(0))
