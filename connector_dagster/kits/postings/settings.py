"""The IFS posting target's settings (`PostingSettings`), the base of F3's and F4's
blocks under `flows:` of a connection."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from connector_dagster.engine.spec import FlowSettings
from connector_dagster.systems.ifs.postings import PostingSets

CodePart = Literal["CodeB", "CodeC", "CodeD", "CodeE", "CodeF", "CodeG", "CodeH", "CodeI", "CodeJ"]


class PostingSettings(FlowSettings):
    """Where IFS takes GL posting sets and how they are coded. The entity sets are not
    verified on a real tenant (IFS publishes no projection for inbound GL), so they are
    settings: the defaults are IFS's documented inbound path, the external voucher (load,
    then Check); posting proposals (`PostingProposalHandling.svc/PostingProposalSet`,
    keys `Company`, `ProposalId` numeric, no check action) take the same fields."""

    headers_set: str = "ExternalVoucherHandling.svc/ExternalVoucherSet"
    rows_set: str = "ExternalVoucherHandling.svc/ExternalVoucherRowSet"
    rows_nav: str = "ExternalVoucherRowArray"
    header_keys: tuple[str, ...] = ("Company", "LoadId")
    numeric_keys: tuple[str, ...] = ()
    check_action: str | None = "IfsApp.ExternalVoucherHandling.ExternalVoucher_Check"
    """Run on every written set, so IFS checks it balances and its period is open."""
    checked_state: str = "Checked"
    voucher_type: str = Field("GL", min_length=1, max_length=3)
    cost_centre_part: CodePart = "CodeB"
    """The code part that takes the cost centre of the document's business unit."""
    currency: str = "USD"
    """The company currency; documents are posted in it (rate 1)."""
    decimals: int = Field(2, ge=0, le=6)
    """Decimals the currency allows; an amount with more is `validation`."""
    corrections: Literal["park", "next_open_period"] = "park"
    """A document changed in ServiceTitan after its IFS period closed: `park` it as
    `period_closed` (finance posts the change by hand), or post the change, net per
    account and code parts, as a correction set dated the first day of the next period
    IFS takes (`next_open_period`; reference `<document's>-C<n>`, its Text naming the
    original's IFS key)."""
    correction_periods: int = Field(12, ge=1, le=60)
    """How many periods after the closed one a correction tries before it is parked."""

    @property
    def code_parts(self) -> tuple[str, ...]:
        """The code parts a posting set's rows are written with."""
        return (self.cost_centre_part,)

    def sets(self) -> PostingSets:
        return PostingSets(
            headers_set=self.headers_set,
            rows_set=self.rows_set,
            rows_nav=self.rows_nav,
            header_keys=self.header_keys,
            numeric_keys=self.numeric_keys,
            check_action=self.check_action,
            checked_state=self.checked_state,
        )
