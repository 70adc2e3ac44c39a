"""F4's block under `flows: bills:` of a connection (its IFS posting target's settings
are the posting kit's `PostingSettings`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from connector_dagster.kits.postings.settings import PostingSettings

BillType = Literal["ApBill", "Procurement"]


class BillSettings(PostingSettings):
    """Which ServiceTitan bills post to IFS, and to which accounts."""

    bill_types: list[BillType] = ["ApBill", "Procurement"]
    """AP bills (`ap-bills`, marked with `billIds`) and inventory bills (procurement,
    marked with `inventoryBillIds`); each type is read with its own list call."""
    sync_statuses: list[Literal["Pending", "Posted"]] = ["Posted"]
    """ServiceTitan sync statuses that are posted to IFS; a `Pending` bill waits. An
    exported one is posted again only if this connector exported it (its ledger says)."""
    payable_account: str = Field("2000", min_length=1, max_length=20)
    """The IFS account credited with each bill's total (accounts payable)."""
    tax_account: str = Field("1300", min_length=1, max_length=20)
    """The IFS account debited with a bill's tax (by default capitalised into inventory)."""
    shipping_account: str = Field("1300", min_length=1, max_length=20)
    """The IFS account debited with a bill's shipping (landed cost, by default inventory)."""
