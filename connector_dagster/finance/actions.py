"""What finance's page changes, through the same operations as the CLI: replay failed
records, resolve or ignore them with a note, reconcile one flow's period. Each returns
one line to show."""

from __future__ import annotations

from collections import defaultdict

from connector_dagster.engine import registry
from connector_dagster.engine.reconcile import reconcile_flow
from connector_dagster.engine.records import Period
from connector_dagster.engine.replay import replay
from connector_dagster.engine.session import Session
from connector_dagster.engine.set_aside import decide, open_left, report_to_dagster
from connector_dagster.lib.store import FailedRecord, Store


def retry(connection: str, records: list[FailedRecord]) -> str:
    """Replay the records (re-read, re-map, re-write), a flow at a time."""
    from connector_dagster.defs.operations.replay import clean_periods

    by_flow: dict[str, list[str]] = defaultdict(list)
    for r in records:
        by_flow[r.flow].append(r.source_key)
    resolved = again = gone = 0
    with Session.open(connection) as session:
        results = [
            result
            for flow, keys in sorted(by_flow.items())
            for result in replay(session, flow, None, None, keys)
        ]
        _report(list(clean_periods(session, results)))
    for result in results:
        resolved += len(result.resolved) + len(result.not_synced)
        again += len(result.failed_again)
        gone += len(result.gone)
    line = f"replayed {len(records)} record(s): {resolved} resolved, {again} failed again"
    return line + (f", {gone} no longer in the source" if gone else "")


def _report(events: list) -> None:
    import os

    if not events or not os.environ.get("DAGSTER_HOME"):
        return
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        for event in events:
            instance.report_runless_asset_event(event)


def set_aside(store: Store, connection: str, ids: list[int], resolution: str, note: str,
              by: str) -> str:  # fmt: skip
    """Resolve or ignore the records with a note and a name."""
    decision = decide(store, connection, resolution, note, by, ids=ids)
    report_to_dagster(store, decision)
    left = open_left(store, decision)
    clean = [f"{flow} {period[:7]}" for (flow, period), n in left.items() if n == 0]
    line = f"{resolution} {len(decision.records)} record(s) by {by}"
    line += f"; no open failed record left in {', '.join(clean)}" if clean else ""
    if decision.untracked:
        keys = ", ".join(r.source_key for r in decision.untracked)
        line += (f"; {keys} failed before the connector recorded which version failed: the "
                 "next run tries it again, set it aside again if it fails")  # fmt: skip
    return line


def reconcile(connection: str, flow: str, period: str) -> str:
    """Reconcile one flow's period against both systems and keep the result."""
    spec = registry.flow(flow)
    with Session.open(connection) as session:
        result = reconcile_flow(spec, session, Period.parse(period))
        session.store.save_reconciliations(
            connection, period, [(flow, result.reconciles, result.differences, result.counts)]
        )
    if result.reconciles:
        return f"{spec.label} {period[:7]} reconciles"
    return f"{spec.label} {period[:7]}: {len(result.differences)} difference(s)"
