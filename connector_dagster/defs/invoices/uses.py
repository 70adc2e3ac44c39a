"""What F3 uses of ServiceTitan and IFS, for `connector-dagster check`."""

from __future__ import annotations

from connector_dagster.kits.postings.uses import POSTING_SETS
from connector_dagster.onboarding.servicetitan import Resource

USES = (
    Resource("accounting", "invoices", writes=("POST markasexported",)),
    Resource("jpm", "jobs"),
    *POSTING_SETS,
)
