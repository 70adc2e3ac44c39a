"""Ledger, audit log, failed records, inbox and cursors on a real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector_dagster.lib import inbox
from connector_dagster.lib.store import Audit, RecordRef, Store

REF = RecordRef("sandbox", "purchase_orders", "PO-2026-00001")


def test_intent_then_synced_commits_ledger_and_audit_together(store: Store) -> None:
    store.record_intent(REF, "h1", Audit("intent", run_id="r1", partition_key="2026-10-01"))
    assert store.ledger("sandbox", "purchase_orders", [REF.source_key])[REF.source_key].status == (
        "pending"
    )
    store.record_synced(
        REF,
        target_id="9001",
        payload_hash="h1",
        mapping_version="v1",
        audit=Audit(
            "create",
            run_id="r1",
            partition_key="2026-10-01",
            target_id="9001",
            http_status=200,
            hash_after="h1",
        ),
    )
    entry = store.ledger("sandbox", "purchase_orders", [REF.source_key])[REF.source_key]
    assert (entry.status, entry.target_id, entry.payload_hash, entry.mapping_version) == (
        "synced",
        "9001",
        "h1",
        "v1",
    )
    assert [a["action"] for a in store.audit_trail(REF)] == ["intent", "create"]
    assert store.ledger_for_partition("sandbox", "purchase_orders", "2026-10-01").keys() == {
        REF.source_key
    }


def test_failure_is_kept_classified_and_resolved_by_a_later_sync(store: Store) -> None:
    payload = {"vendorId": None, "memo": "IFS PO PO-2026-00001"}
    for _ in range(2):
        store.record_failed(
            REF,
            reason="mapping_missing",
            message="PO PO-2026-00001: field VendorNo 'V9999' has no vendor mapping",
            payload=payload,
            audit=Audit("fail", partition_key="2026-10-01", error="mapping_missing"),
        )
    [failed] = store.failed(connection="sandbox", reason="mapping_missing")
    assert failed.attempts == 2 and failed.payload == payload and not failed.resolved
    assert store.ledger("sandbox", "purchase_orders", [REF.source_key])[REF.source_key].status == (
        "failed"
    )
    store.record_synced(REF, target_id="1", payload_hash="h", audit=Audit("create"))
    assert store.failed(connection="sandbox") == []
    assert len(store.failed(connection="sandbox", include_resolved=True)) == 1


def test_unknown_failure_reason_is_refused(store: Store) -> None:
    import pytest

    with pytest.raises(ValueError, match="unknown failure reason"):
        store.record_failed(REF, reason="oops", message="m", payload={}, audit=Audit("fail"))


def test_resolve_failed_by_id(store: Store) -> None:
    store.record_failed(REF, reason="rejected", message="m", payload={}, audit=Audit("fail"))
    [failed] = store.failed()
    assert store.resolve_failed(failed.id) is True
    assert store.resolve_failed(failed.id) is False


def test_inbox_deduplicates_on_occurrence_and_reads_by_cursor(store: Store) -> None:
    first = inbox.insert_if_new(
        store,
        "sandbox",
        "occ-1",
        "tn.acc.invoice-posted",
        "2026-10-02T10:00:00Z",
        {"data": {"invoice": {"id": 1}}},
    )
    assert first is not None
    assert inbox.insert_if_new(store, "sandbox", "occ-1", "tn.acc.invoice-posted", None, {}) is None
    second = inbox.insert_if_new(store, "sandbox", "occ-2", "tn.jpm.job-completed", None, {"x": 1})
    events = inbox.since(store, "sandbox", 0)
    assert [e.occurrence_id for e in events] == ["occ-1", "occ-2"]
    assert [e.occurrence_id for e in inbox.since(store, "sandbox", first)] == ["occ-2"]
    assert inbox.mark_processed(store, [first, second], "run-1") == 2
    assert inbox.mark_processed(store, [first], "run-2") == 0
    assert inbox.since(store, "sandbox", 0) == []


def test_cursor_round_trip(store: Store) -> None:
    assert store.get_cursor("sandbox", "st_invoices_export") is None
    store.set_cursor("sandbox", "st_invoices_export", "abc")
    store.set_cursor("sandbox", "st_invoices_export", "def")
    assert store.get_cursor("sandbox", "st_invoices_export") == "def"


def test_the_audit_log_is_append_only(store: Store) -> None:
    import psycopg2

    store.record_skip(REF, Audit("adopt", target_id="1"))
    for statement in (
        "UPDATE connector.audit_log SET error = 'x'",
        "DELETE FROM connector.audit_log",
        "TRUNCATE connector.audit_log",
    ):
        with pytest.raises(psycopg2.Error, match="append-only"), store.cursor() as cur:
            cur.execute(statement)
    assert len(store.audit_trail(REF)) == 1


def test_migration_0004_dates_first_intents_left_empty_from_the_audit_trail(
    pg_url: str, tmp_path: Path
) -> None:
    """A row failed after an intent made before sql/0003 existed: 0004 takes its
    first intent from the audit trail, so a look-up searches from there."""
    import shutil
    import uuid

    from connector_dagster.lib import db, migrate
    from connector_dagster.lib.settings import sql_dir

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = db.connect(pg_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    url = pg_url.replace("/postgres?", f"/{name}?", 1)
    early = tmp_path / "sql"
    early.mkdir()
    for path in sorted(sql_dir().glob("000[123]_*.sql")):
        shutil.copy(path, early)
    migrate.migrate(url, early)
    with db.transaction(url) as cur:
        cur.execute(
            """INSERT INTO connector.sync_ledger (connection, flow, source_key, status)
               VALUES ('sandbox', 'purchase_orders', 'PO-1', 'failed')"""
        )
        cur.execute(
            """INSERT INTO connector.audit_log (at, connection, flow, source_key, action)
               VALUES ('2026-03-01T10:00:00Z', 'sandbox', 'purchase_orders', 'PO-1', 'intent')"""
        )
    migrate.migrate(url)
    with db.transaction(url) as cur:
        cur.execute("SELECT first_intent_at FROM connector.sync_ledger WHERE source_key = 'PO-1'")
        [(first,)] = cur.fetchall()
    assert first.isoformat() == "2026-03-01T10:00:00+00:00"
    admin = db.connect(pg_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.close()


def test_a_nul_in_an_error_message_is_kept_as_a_replacement_character(store: Store) -> None:
    """An API's error body may echo a NUL from the record; PostgreSQL's text cannot
    hold it, so the failure would be lost. It is stored with U+FFFD in its place."""
    ref = RecordRef("c", "f", "K-1")
    message = "IFS said: bad value 'a\x00b'"
    store.record_failed(
        ref, reason="rejected", message=message, payload={"x": 1},
        audit=Audit("fail", error=f"rejected: {message}"),
    )  # fmt: skip
    [failed] = store.failed(connection="c")
    assert failed.message == "IFS said: bad value 'a\ufffdb'"
    assert store.audit_trail(ref)[-1]["error"] == "rejected: IFS said: bad value 'a\ufffdb'"


def test_a_read_is_audited_only_when_the_record_changed_since_its_last_read(
    store: Store,
) -> None:
    other = RecordRef("sandbox", "purchase_orders", "PO-2026-00002")
    unversioned = RecordRef("sandbox", "purchase_orders", "PO-2026-00003")
    reads = [(REF.source_key, 'W/"1"'), (other.source_key, 'W/"7"'), (unversioned.source_key, None)]
    for run in ("r1", "r2"):
        store.record_reads("sandbox", "purchase_orders", reads, run, "2026-10-01")
    store.record_reads(
        "sandbox", "purchase_orders", [(REF.source_key, 'W/"2"')], "r3", "2026-10-01"
    )
    store.record_reads(
        "sandbox", "purchase_orders", [(REF.source_key, 'W/"1"')], "r4", "2026-10-01"
    )
    store.record_reads("sandbox", "other_flow", reads[:1], "r5", "2026-10-01")

    def reads_of(ref: RecordRef) -> list[tuple[str, str | None]]:
        return [(a["run_id"], a["hash_after"]) for a in store.audit_trail(ref)]

    assert reads_of(REF) == [("r1", 'W/"1"'), ("r3", 'W/"2"'), ("r4", 'W/"1"')]
    assert reads_of(other) == [("r1", 'W/"7"')]
    assert reads_of(unversioned) == [("r1", None)]
    assert reads_of(RecordRef("sandbox", "other_flow", REF.source_key)) == [("r5", 'W/"1"')]


def test_a_synced_row_with_the_hash_a_record_maps_to_now_comes_without_its_payload(
    store: Store,
) -> None:
    """An unchanged re-run reads hashes, not payloads: the payload comes only with a row
    whose record changed (or is not synced), where the write needs what it last wrote."""
    other = RecordRef("sandbox", "purchase_orders", "PO-2026-00002")
    for ref, body in ((REF, {"n": 1}), (other, {"n": 2})):
        store.record_intent(ref, "h1", Audit("intent", partition_key="2026-10-01"))
        store.record_synced(
            ref, target_id="9", payload_hash="h1", payload=body, audit=Audit("create")
        )
    keys = [REF.source_key, other.source_key]
    rows = store.ledger(
        "sandbox", "purchase_orders", keys, {REF.source_key: "h1", other.source_key: "h2"}
    )
    assert rows[REF.source_key].last_payload is None and rows[REF.source_key].payload_hash == "h1"
    assert rows[other.source_key].last_payload == {"n": 2}
    assert store.ledger("sandbox", "purchase_orders", keys)[REF.source_key].last_payload == {"n": 1}
