"""The engine's inbox sensor, on the example flow: webhook events waiting in the inbox
become one run per period they touch; an event is marked processed once its run
exists; an empty inbox costs one query."""

from __future__ import annotations

import os

import dagster as dg

from connector_dagster.engine.build import build
from connector_dagster.engine.session import Session
from connector_dagster.lib import inbox
from connector_dagster.lib.store import Store
from connector_dagster_tests.engine.example_flow import spec as example
from connector_dagster_tests.engine.test_build import sandbox_connection


class ExampleLink(Session):
    @classmethod
    def open(cls, name: str) -> Session:
        return cls(sandbox_connection(), Store(os.environ["CONNECTOR_DATABASE_URL"]),
                   owns_store=True)  # fmt: skip


def event(store: Store, occurrence: str, day: str) -> None:
    inbox.insert_if_new(store, "sandbox", occurrence, "note.changed", None, {"data": {"day": day}})


def test_events_become_one_run_per_period_and_are_processed_once_it_exists(
    db_env: str, monkeypatch
) -> None:
    from connector_dagster.engine import inbox_sensor as module

    monkeypatch.setattr(module, "Link", ExampleLink)
    [sensor] = [s for s in build(example.SPEC, sandbox_connection()).sensors if "inbox" in s.name]
    store = Store(db_env)
    with dg.instance_for_test() as instance:
        empty = sensor(dg.build_sensor_context(instance=instance))
        assert isinstance(empty, dg.SkipReason)

        for n, day in enumerate(("2026-10-03", "2026-10-20", "2026-09-30")):
            event(store, f"occ-{n}", day)
        event(store, "occ-0", "2026-10-03")  # a redelivery: stored once
        first = sensor(dg.build_sensor_context(instance=instance))
        keys = {r.partition_key: r.run_key for r in first.run_requests}
        assert set(keys) == {"2026-09-01", "2026-10-01"}
        again = sensor(dg.build_sensor_context(instance=instance))
        assert {r.run_key for r in again.run_requests} == set(keys.values())

        # The run of October starts: its events are processed, September's are not yet.
        instance.add_run(
            dg.DagsterRun(job_name="sandbox_example_notes_job",
                          tags={"dagster/run_key": keys["2026-10-01"]})
        )  # fmt: skip
        third = sensor(dg.build_sensor_context(instance=instance))
        assert [r.partition_key for r in third.run_requests] == ["2026-09-01"]
        left = inbox.pending(store, "sandbox", ["note.changed"])
        assert [e.occurrence_id for e in left] == ["occ-2"]
    store.close()
