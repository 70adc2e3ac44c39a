"""F2's block under `flows: gl_postings:` of a connection."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from connector_dagster.engine.spec import FlowSettings

CODE_PARTS = ("CodeB", "CodeC", "CodeD", "CodeE", "CodeF", "CodeG", "CodeH", "CodeI", "CodeJ")


class GlPostingSettings(FlowSettings):
    """Which posting proposals sync, where IFS serves them, and how they map."""

    states: list[str] = ["Authorized", "Posted"]
    """Proposal states that are synced (the authorised ones, by default)."""
    cancelled_states: list[str] = ["Cancelled"]
    """States that delete the proposal's journal entry (a removed proposal does too)."""
    headers_set: str = "PostingProposalHandling.svc/PostingProposalSet"
    rows_set: str = "PostingProposalHandling.svc/PostingProposalLineSet"
    accounts_set: str = "AccountsHandling.svc/AccountSet"
    """The chart of accounts, read when a missing ServiceTitan GL account is created."""
    cost_centre_part: Literal[
        "CodeB", "CodeC", "CodeD", "CodeE", "CodeF", "CodeG", "CodeH", "CodeI", "CodeJ"
    ] = "CodeB"
    """Which code part holds the cost centre (mapped to a ServiceTitan business unit)."""
    supplier_party_type: str = "SUPPLIER"
    """A row whose PartyType is this names a supplier in PartyTypeId (-> vendor)."""
    create_missing_accounts: bool = False
    """Create a ServiceTitan GL account for an IFS account with no mapping (number,
    name and type from IFS) and record the mapping; otherwise `mapping_missing`."""
    account_types: dict[str, str] = {
        "A": "OtherCurrentAsset", "L": "OtherCurrentLiability", "R": "Income", "C": "Expense",
    }  # fmt: skip
    """IFS logical account type -> ServiceTitan GL account type, for created accounts."""
    currency: str = "USD"
    decimals: int = Field(2, ge=0, le=6)
    """Decimals the company currency allows; more is `validation`."""
    history_set: str = "HistoryLogHandling.svc/HistoryLogOverviewSet"
    history_lu_names: list[str] = ["PostingProposalHead", "PostingProposalLine"]
    history_page: int = Field(1000, ge=1, le=10000)
