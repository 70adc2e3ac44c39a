"""Flow F4: ServiceTitan AP and inventory bills become balanced IFS GL posting sets."""

from __future__ import annotations

from connector_dagster.defs.bills import schema
from connector_dagster.defs.bills.mapping import map_item
from connector_dagster.defs.bills.reconcile import RECONCILIATION
from connector_dagster.defs.bills.settings import BillSettings
from connector_dagster.defs.bills.source import BILLS, ServiceTitanBills
from connector_dagster.defs.bills.target import IfsBillPostings
from connector_dagster.engine.spec import FlowSpec, ReadSpec, Triggers, WriteSpec
from connector_dagster.kits.postings.live import LIVE
from connector_dagster.kits.postings.mapping import TABLES

SPEC = FlowSpec(
    name="bills",
    label="F4: ServiceTitan AP and inventory bills into IFS GL posting sets",
    record_label="bill",
    settings=BillSettings,
    reads=(
        ReadSpec(
            BILLS,
            "servicetitan",
            "ServiceTitan AP and inventory bills of the period (by bill date), with their "
            "items and expense lines.",
            check=schema.validate,
            record_check=schema.validate_records,
        ),
    ),
    write=WriteSpec(
        "ifs_bill_postings",
        "ifs",
        "The period's posted bills as balanced IFS GL posting sets (expense or inventory per "
        "GL account, tax, shipping, and payable; the cost centre of the business unit), found "
        "again by their reference, each marked exported in ServiceTitan; a cancelled bill "
        "deletes its set.",
    ),
    source=ServiceTitanBills,
    target=IfsBillPostings,
    map=map_item,
    tables=TABLES,
    live=LIVE,
    reconcile=RECONCILIATION,
    amounts=schema.AMOUNTS,
    triggers=Triggers(poll=True, close=True, change_sensor=True),
)
