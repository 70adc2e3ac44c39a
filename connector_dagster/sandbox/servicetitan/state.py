"""The ServiceTitan simulator's state, `app.state.sim`: its configuration, the seeded
store, issued tokens, webhooks and request counts; the app and the control
endpoints both read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector_dagster.sandbox.config import SandboxConfig
from connector_dagster.sandbox.faults import RequestStats, SandboxMiddleware
from connector_dagster.sandbox.servicetitan.auth import Tokens
from connector_dagster.sandbox.servicetitan.seed import build
from connector_dagster.sandbox.servicetitan.store import Store
from connector_dagster.sandbox.servicetitan.webhooks import Webhooks


@dataclass
class SimState:
    """Everything the simulator knows; `store` is replaced by a reset, seeded as of
    the same clock as at start."""

    config: SandboxConfig
    seeded_as_of: datetime
    store: Store
    tokens: Tokens
    webhooks: Webhooks
    stats: RequestStats
    sandbox: SandboxMiddleware | None = field(default=None, repr=False)

    @property
    def tenant_id(self) -> int:
        return int(self.config.st_tenant_id)

    def snapshot(self) -> dict[str, Any]:
        """The stored data and the closed accounting periods, for the state file."""
        closed = self.sandbox.profile.closed_periods if self.sandbox else []
        return {
            "seededAsOf": self.seeded_as_of.isoformat(),
            "store": self.store.snapshot(),
            "closedPeriods": list(closed),
        }

    def reseed(self) -> None:
        self.store = build(
            self.config.seed,
            self.config.scale,
            self.tenant_id,
            self.seeded_as_of,
            self.config.months_of_invoices(),
        )
