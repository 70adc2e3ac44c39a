"""What F3 and F4 check of their mapping entries before a write: the IFS accounts their
GL accounts and tax zones post to are not blocked."""

from __future__ import annotations

from connector_dagster.engine.live import LiveCheck
from connector_dagster.kits.master import IFS_ACCOUNTS
from connector_dagster.kits.postings.mapping import ACCOUNTS, TAX_CODES

LIVE = (
    LiveCheck(ACCOUNTS.kind, "ServiceTitan GL account", IFS_ACCOUNTS),
    LiveCheck(TAX_CODES.kind, "ServiceTitan tax zone", IFS_ACCOUNTS, field="account"),
)
