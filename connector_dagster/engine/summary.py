"""What a period of a flow stands at, from the ledger and the open failed records:
the figures a partition's materialization or failure shows, whatever run wrote them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dagster as dg

from connector_dagster.lib.store import FailedRecord, Store

FAILED_SHOWN = 50
"""Failed records listed on a partition at most (the total is always given)."""

THEN = {
    "validation": "once corrected at the source: re-run the period, or replay",
    "mapping_missing": "once the mapping is added: replay (or re-execute from failure)",
    "mapping_stale": "once the entry points at an active record again: replay",
    "conflict": "re-run the period (it is read again)",
    "target_locked": "once changed by hand in the target: resolve the record",
    "period_closed": "once posted by hand in an open period: resolve the record",
    "rejected": "once corrected at the source: re-run the period, or replay",
    "transient_exhausted": "replay (the API failed for a while)",
}
"""What to do once the fix its message names is made, per reason."""


@dataclass(frozen=True)
class PeriodSummary:
    period: str
    statuses: dict[str, int]
    """Ledger rows of the period by status (synced, failed, pending)."""
    failed: list[FailedRecord]
    """The period's open failed records, oldest first."""

    @property
    def records(self) -> int:
        return sum(self.statuses.values())


def period_summary(store: Store, connection: str, flow: str, period: str) -> PeriodSummary:
    statuses = store.partition_statuses(connection, flow, period)
    failed = store.failed(connection=connection, flow=flow, partition_key=period)
    return PeriodSummary(period, dict(statuses), failed)


def summary_metadata(summary: PeriodSummary) -> dict[str, Any]:
    """The period's totals to date, and its open failed records as a table."""
    metadata: dict[str, Any] = {
        "period_records": summary.records,
        "period_synced": summary.statuses.get("synced", 0),
        "period_failed": len(summary.failed),
        "period_pending": summary.statuses.get("pending", 0),
    }
    if summary.failed:
        rows = [
            f"| {_cell(f.source_key)} | {f.reason} | {_cell(f.message)} | "
            f"{THEN.get(f.reason, 'replay')} | {f.attempts} |"
            for f in summary.failed[:FAILED_SHOWN]
        ]
        more = len(summary.failed) - FAILED_SHOWN
        table = "\n".join(
            [
                f"{len(summary.failed)} open failed record(s) in {summary.period}"
                + (
                    f" ({more} more not shown; `connector-dagster failed list`)" if more > 0 else ""
                ),
                "",
                "| record | reason | what failed, and the fix | then | attempts |",
                "|---|---|---|---|---|",
                *rows,
            ]
        )
        metadata["failed_records"] = dg.MetadataValue.md(table)
    return metadata


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
