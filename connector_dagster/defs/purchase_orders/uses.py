"""What F1 uses of IFS and ServiceTitan, for `connector-dagster check`."""

from __future__ import annotations

from connector_dagster.defs.purchase_orders.source import HEADER_FIELDS, LINE_FIELDS
from connector_dagster.kits.purchase_orders.uses import HISTORY, ST_PURCHASE_ORDERS
from connector_dagster.onboarding.ifs import EntitySet

USES = (
    EntitySet(
        "headers_set",
        reads=tuple(HEADER_FIELDS),
        field_settings=("servicetitan_reference_field",),
    ),
    EntitySet("lines_set", reads=tuple(LINE_FIELDS)),
    HISTORY,
    ST_PURCHASE_ORDERS,
)
