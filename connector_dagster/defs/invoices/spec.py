"""Flow F3: ServiceTitan invoices (with their jobs) become balanced IFS GL posting sets."""

from __future__ import annotations

from connector_dagster.defs.invoices import schema
from connector_dagster.defs.invoices.mapping import map_item
from connector_dagster.defs.invoices.reconcile import RECONCILIATION
from connector_dagster.defs.invoices.settings import InvoiceSettings
from connector_dagster.defs.invoices.source import INVOICES, JOBS, ServiceTitanInvoices
from connector_dagster.defs.invoices.target import IfsInvoicePostings
from connector_dagster.engine.spec import FlowSpec, ReadSpec, Triggers, WriteSpec
from connector_dagster.kits.postings.live import LIVE
from connector_dagster.kits.postings.mapping import TABLES
from connector_dagster.kits.postings.schema import POSTING_AMOUNTS
from connector_dagster.systems.servicetitan.settings import WEBHOOK_EVENT_TYPES

SPEC = FlowSpec(
    name="invoices",
    label="F3: ServiceTitan invoices into IFS GL posting sets",
    record_label="invoice",
    settings=InvoiceSettings,
    reads=(
        ReadSpec(
            INVOICES,
            "servicetitan",
            "ServiceTitan invoices of the period (by invoice date), inactive ones included, "
            "with their items.",
            check=schema.validate,
            record_check=schema.validate_records,
        ),
        ReadSpec(
            JOBS,
            "servicetitan",
            "The ServiceTitan jobs the period's invoices name (for attribution), read 50 ids "
            "at a time.",
            check=schema.validate_jobs,
            deps=(INVOICES,),
        ),
    ),
    write=WriteSpec(
        "ifs_invoice_postings",
        "ifs",
        "The period's posted invoices as balanced IFS GL posting sets (receivable, revenue "
        "per GL account, sales tax; the cost centre of the business unit), found again by "
        "their reference, each marked exported in ServiceTitan with its IFS key; an "
        "inactive invoice deletes its set.",
    ),
    source=ServiceTitanInvoices,
    target=IfsInvoicePostings,
    map=map_item,
    tables=TABLES,
    live=LIVE,
    reconcile=RECONCILIATION,
    amounts=POSTING_AMOUNTS,
    triggers=Triggers(poll=True, close=True, change_sensor=True, inbox_events=WEBHOOK_EVENT_TYPES),
)
