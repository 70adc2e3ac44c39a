"""A connection's clients: built once per session however many threads reach for them,
and every request's slot taken from the rate limits shared through the state database,
over a materialized period against the sandbox."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import dagster as dg
import httpx

from connector_dagster.defs.purchase_orders.spec import SPEC
from connector_dagster.defs.resources import build_resources
from connector_dagster.engine import registry
from connector_dagster.engine.build import build
from connector_dagster.engine.session import Session
from connector_dagster.lib import db


def test_every_api_call_of_a_materialized_period_takes_a_shared_slot(
    sandbox_connection: dict, db_env: str
) -> None:
    bases = {
        "ifs": sandbox_connection["ifs"]["base_url"],
        "servicetitan": sandbox_connection["servicetitan"]["api_url"],
    }
    for base in bases.values():
        httpx.delete(f"{base}/_sandbox/requests", timeout=10).raise_for_status()
    flow = dg.Definitions.merge(
        dg.Definitions(resources=build_resources()), build(SPEC, registry.connection("sandbox"))
    )
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [*flow.assets, *flow.asset_checks],
            partition_key="2026-10-01",
            resources=build_resources(),
            instance=instance,
        )
    assert result.success
    with db.transaction(db_env) as cur:
        cur.execute("SELECT api, grants FROM connector.rate_limits")
        grants = dict(cur.fetchall())
    for api, base in bases.items():
        counts = httpx.get(f"{base}/_sandbox/requests", timeout=10).json()
        sent = sum(c["count"] for c in counts if "token" not in c["route"])
        assert sent > 0
        assert grants[api] == sent, api


def test_sixteen_threads_reaching_for_a_client_at_once_share_one_client_and_one_token(
    sandbox_connection: dict, db_env: str
) -> None:
    """A write step's writer threads first use the target's client together: one of
    them builds it, the others get that one (one token, one client to close)."""
    st = sandbox_connection["servicetitan"]["api_url"]
    httpx.delete(f"{st}/_sandbox/requests", timeout=10).raise_for_status()
    together = Barrier(16)

    def reach(session: Session) -> object:
        together.wait()
        client = session.servicetitan
        client.get("inventory", "vendors", {"pageSize": 1})
        return client

    with Session.open("sandbox") as session, ThreadPoolExecutor(16) as pool:
        clients = list(pool.map(reach, [session] * 16))
    assert len({id(c) for c in clients}) == 1
    counts = httpx.get(f"{st}/_sandbox/requests", timeout=10).json()
    # at most one token fetched (none when a token another step stored is still good)
    assert sum(c["count"] for c in counts if "token" in c["route"]) <= 1, counts
