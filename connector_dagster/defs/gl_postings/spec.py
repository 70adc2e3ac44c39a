"""Flow F2: GL posting proposals from IFS flow into ServiceTitan journal entries."""

from __future__ import annotations

from connector_dagster.defs.gl_postings import schema
from connector_dagster.defs.gl_postings.accounts import create_missing_accounts
from connector_dagster.defs.gl_postings.mapping import TABLES, map_item
from connector_dagster.defs.gl_postings.reconcile import RECONCILIATION
from connector_dagster.defs.gl_postings.settings import GlPostingSettings
from connector_dagster.defs.gl_postings.source import READ, IfsPostingProposals
from connector_dagster.defs.gl_postings.target import ServiceTitanJournalEntries
from connector_dagster.engine.live import LiveCheck
from connector_dagster.engine.spec import FlowSpec, ReadSpec, Triggers, WriteSpec
from connector_dagster.kits.master import ST_GL_ACCOUNTS, ST_VENDORS

SPEC = FlowSpec(
    name="gl_postings",
    label="F2: IFS GL posting proposals into ServiceTitan journal entries",
    record_label="proposal",
    settings=GlPostingSettings,
    reads=(
        ReadSpec(
            READ,
            "ifs",
            "IFS GL posting proposals of the period (by voucher date), heads and rows, with "
            "their ETags.",
            check=schema.validate,
            record_check=schema.validate_records,
        ),
    ),
    write=WriteSpec(
        "servicetitan_journal_entries",
        "servicetitan",
        "The period's syncable posting proposals as ServiceTitan journal entries (created, "
        "updated with their versionId, deleted when cancelled or removed in IFS), through "
        "the write protocol.",
    ),
    source=IfsPostingProposals,
    target=ServiceTitanJournalEntries,
    map=map_item,
    tables=TABLES,
    live=(
        LiveCheck("gl_accounts", "IFS account", ST_GL_ACCOUNTS),
        LiveCheck("vendors", "vendor", ST_VENDORS),
    ),
    reconcile=RECONCILIATION,
    amounts=schema.AMOUNTS,
    triggers=Triggers(poll=True, close=True, change_sensor=True),
    cancel_vanished=True,
    prepare=create_missing_accounts,
)
