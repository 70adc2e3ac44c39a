"""F3's block under `flows: invoices:` of a connection (its IFS posting target's settings
are the posting kit's `PostingSettings`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from connector_dagster.kits.postings.settings import CodePart, PostingSettings


class InvoiceSettings(PostingSettings):
    """Which ServiceTitan invoices post to IFS, and to which accounts."""

    receivable_account: str = Field("1200", min_length=1, max_length=20)
    """The IFS account debited with each invoice's total (accounts receivable)."""
    sync_statuses: list[Literal["Pending", "Posted"]] = ["Posted"]
    """ServiceTitan sync statuses that are posted to IFS; a `Pending` invoice (not yet
    posted in ServiceTitan) waits. An `Exported` one is posted again only if this
    connector exported it."""
    job_code_part: CodePart | None = None
    """A code part that takes the invoice's job number, for job costing in IFS."""

    @property
    def code_parts(self) -> tuple[str, ...]:
        return (self.cost_centre_part, *([self.job_code_part] if self.job_code_part else []))
