"""What F4 uses of ServiceTitan and IFS, for `connector-dagster check`."""

from __future__ import annotations

from connector_dagster.kits.postings.uses import POSTING_SETS
from connector_dagster.onboarding.servicetitan import Resource

USES = (
    Resource("accounting", "ap-bills", writes=("POST markasexported",)),
    Resource("accounting", "inventory-bills", writes=("POST markasexported",)),
    *POSTING_SETS,
)
