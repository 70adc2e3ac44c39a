"""`connector-dagster check`: read-only. Authenticates to every system of a connection,
then asks each system for what each enabled flow uses (from the flows' `uses.py`)."""

from __future__ import annotations

import importlib
import importlib.util

from connector_dagster import systems
from connector_dagster.engine.session import Session
from connector_dagster.onboarding.findings import FAILED, Finding
from connector_dagster.onboarding.probe import Probe
from connector_dagster.onboarding.uses import declared


def check(session: Session) -> list[Finding]:
    """Every finding: the connection's systems first, then each enabled flow's uses."""
    probe = Probe(session)
    findings: list[Finding] = []
    for name in systems.names():
        if session.connection.systems.get(name) is None:
            continue
        if importlib.util.find_spec(f"{__package__}.{name}") is None:
            continue  # a system onboarding knows nothing of: its flows' uses say the rest
        findings.extend(importlib.import_module(f"{__package__}.{name}").authenticate(probe))
    refused = sorted({f.system for f in findings if not f.ok})
    if refused:
        return findings + [
            Finding(", ".join(refused), "not checked", FAILED,
                    "the connection's access failed first", "see above", flow)
            for flow, settings in sorted(session.connection.flows.items())
            if settings.enabled
        ]  # fmt: skip
    uses = declared()
    for flow, settings in sorted(session.connection.flows.items()):
        if not settings.enabled:
            continue
        for use in uses.get(flow, ()):
            findings.extend(use.check(probe, flow, settings))
    return findings
