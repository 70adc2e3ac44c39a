"""F3 with several invoices to one IFS `$batch` (`ifs.batch_documents`): a document IFS
refuses fails its own record alone, and a `$batch` whose answer is lost leaves every
invoice in it to be looked up, adopted once, never posted twice."""

from __future__ import annotations

import httpx

from connector_dagster.engine import flow, registry
from connector_dagster.engine.records import Outbound, Period
from connector_dagster.engine.session import Session
from connector_dagster_tests.flows import support
from connector_dagster_tests.flows.invoices.test_flow import (
    BATCH,
    FLOW,
    PERIOD,
    assert_posted,
    postable,
    st_invoices,
)
from connector_dagster_tests.flows.postings import (
    HEADERS,
    clear,
    failed,
    postings,
    requests,
    set_connection,
)


def records(session: Session) -> list[Outbound]:
    """The period's invoices to post, mapped as the flow's write step maps them."""
    spec = registry.flow(FLOW)
    settings = flow.settings_of(spec, session)
    reads = support.read_all(FLOW, session, Period.parse(PERIOD))
    items = spec.source(session, settings).items(reads)
    mapped = flow.to_records(spec, items, session.mappings(), settings, PERIOD)
    return [r for r in mapped if r.problem is None and r.op == "upsert"]


def test_a_document_ifs_refuses_fails_only_its_own_record(sandbox_connection: dict) -> None:
    """One invoice's rows name an account IFS does not have: its change set is refused
    inside a `$batch` shared with nine others (a long linger fills every batch), which
    are posted; the refused invoice is `rejected` naming the account, nothing of it is
    in IFS and it is not marked exported."""
    set_connection(batch=True, batch_documents=10, batch_linger_ms=2000)
    ifs = sandbox_connection["ifs"]["base_url"]
    spec = registry.flow(FLOW)
    with Session.open("sandbox") as session:
        batch = records(session)
        refused = batch[3]
        assert refused.payload is not None
        refused.payload["rows"][0]["Account"] = "9999"
        target = spec.target(session, flow.settings_of(spec, session))
        clear(ifs)
        report = flow.syncer(spec, session, target, workers=target.writers).run(batch)
    assert set(report.failed) == {refused.key}
    reason, message = report.failed[refused.key]
    assert reason == "rejected"
    assert f"invoice {refused.key!r}" in message and "Account 9999 does not exist" in message
    assert message.count("$batch change set: nothing of it was written") == 1
    assert sorted(report.created) == sorted(r.key for r in batch if r is not refused)
    assert requests(ifs)[BATCH] <= len(batch) // 10 + 2
    posted = postings("ST-INV-")
    assert f"ST-INV-{refused.key}" not in posted
    assert all(len(posted[f"ST-INV-{r.key}"]) == 1 for r in batch if r is not refused)
    assert st_invoices()[refused.key]["syncStatus"] != "Exported"
    assert_posted(postable(st_invoices()) - {refused.key}, besides={refused.key})


def test_a_lost_batch_answer_is_recovered_by_look_up_without_a_duplicate(
    sandbox_connection: dict,
) -> None:
    """IFS takes every `$batch` but the connection drops before its answer: each invoice
    of it is in doubt on its own, looked up by its reference, found and adopted; each is
    posted once and marked exported, and a re-run writes nothing."""
    set_connection(batch=True, batch_documents=10)
    ifs = sandbox_connection["ifs"]["base_url"]
    keys = postable(st_invoices())
    with Session.open("sandbox") as session:
        list(session.ifs.query(HEADERS, top=1, keys=("Company", "LoadId")))  # its token
        reads = support.read_all(FLOW, session, Period.parse(PERIOD))
        lost = {"rate_reset": 1.0, "methods": ["POST"]}
        httpx.put(f"{ifs}/_sandbox/faults", json=lost, timeout=10).raise_for_status()
        clear(ifs)
        try:
            report = flow.write(registry.flow(FLOW), session, PERIOD, reads).report
        finally:
            httpx.put(f"{ifs}/_sandbox/faults", json={}, timeout=10).raise_for_status()
    assert failed(FLOW) == {}
    assert report.created == [] and sorted(report.adopted) == sorted(keys)
    assert 0 < requests(ifs)[BATCH] < len(keys)
    assert_posted(keys)
    clear(ifs)
    assert support.write_in_process(FLOW, PERIOD)["created"] == 0
    assert postings("ST-INV-").keys() == {f"ST-INV-{k}" for k in keys}
