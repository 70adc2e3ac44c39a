"""Flow F2 end to end: IFS posting proposals into ServiceTitan journal entries, over
real HTTP against the sandbox and a real PostgreSQL."""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from datetime import date
from decimal import Decimal

import dagster as dg
import httpx

from connector_dagster.defs.gl_postings.spec import SPEC
from connector_dagster.defs.gl_postings.target import marked_key
from connector_dagster.engine.session import Session
from connector_dagster.lib.store import Store
from connector_dagster.systems.ifs import odata
from connector_dagster_tests.flows import support

PERIOD = "2026-10-01"
SYNCABLE = {"Authorized", "Posted"}


def defs() -> dg.Definitions:
    return support.defs(SPEC.name)


def materialize(period: str = PERIOD) -> dg.ExecuteInProcessResult:
    return support.materialize(SPEC.name, period)


def store() -> Store:
    return Store(os.environ["CONNECTOR_DATABASE_URL"])


def failed() -> dict:
    s = store()
    try:
        return {f.source_key: f for f in s.failed(connection="sandbox", flow="gl_postings")}
    finally:
        s.close()


def ifs_proposals(period: str = PERIOD) -> dict[str, dict]:
    """Proposals of the period read through the IFS API, with their rows."""
    start = date.fromisoformat(period)
    end = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    with Session.open("sandbox") as session:
        heads = {
            f"{h['Company']}-{int(h['ProposalId'])}": dict(h)
            for h in session.ifs.query(
                "PostingProposalHandling.svc/PostingProposalSet",
                filter=odata.and_(odata.ge("VoucherDate", start), odata.lt("VoucherDate", end)),
                keys=("Company", "ProposalId"),
            )
        }
        for head in heads.values():
            head["rows"] = [
                dict(r)
                for r in session.ifs.query(
                    "PostingProposalHandling.svc/PostingProposalLineSet",
                    filter=odata.and_(
                        odata.eq("Company", head["Company"]),
                        odata.eq("ProposalId", head["ProposalId"]),
                    ),
                    keys=("Company", "ProposalId", "RowNo"),
                )
            ]
    return heads


def st_entries() -> dict[str, list[dict]]:
    """Journal entries carrying the sandbox connection's marker, by proposal key, each
    with its details read through the ServiceTitan API."""
    found: dict[str, list[dict]] = defaultdict(list)
    with Session.open("sandbox") as session:
        st = session.servicetitan
        for entry in st.iter_pages("accounting", "journal-entries", {}):
            key = marked_key(entry.get("name"), "sandbox")
            if key is not None:
                entry["details"] = list(
                    st.iter_pages("accounting", f"journal-entries/{entry['id']}/details", {})
                )
                found[key].append(entry)
    return found


def totals_ifs(head: dict, maps: dict) -> Counter:
    """Debits and credits per (ServiceTitan account id, business unit) of a proposal."""
    sums: Counter = Counter()
    for row in head["rows"]:
        where = (maps["gl_accounts"][row["Account"]], maps["cost_centres"][row["CodeB"]])
        sums[(*where, "debit")] += Decimal(str(row.get("DebetAmount") or 0))
        sums[(*where, "credit")] += Decimal(str(row.get("CreditAmount") or 0))
    return +sums


def totals_st(entry: dict) -> Counter:
    sums: Counter = Counter()
    for line in entry["details"]:
        where = (line["account"]["id"], (line.get("businessUnit") or {}).get("id"))
        sums[(*where, "debit")] += Decimal(str(line["debit"]))
        sums[(*where, "credit")] += Decimal(str(line["credit"]))
    return +sums


def writes(base: str) -> Counter:
    rows = httpx.get(f"{base}/_sandbox/requests", timeout=10).json()
    return Counter(
        {
            (r["method"], r["route"]): r["count"]
            for r in rows
            if r["method"] in ("POST", "PATCH", "PUT", "DELETE") and "journal" in r["route"]
        }
    )


def clear_counts(base: str) -> None:
    httpx.delete(f"{base}/_sandbox/requests", timeout=10).raise_for_status()


def mappings() -> dict:
    with Session.open("sandbox") as session:
        maps = session.mappings()
    return {kind: maps.table(kind) for kind in ("gl_accounts", "cost_centres", "vendors")}


def edit(info: dict, set_name: str, key: dict, **changes: object) -> None:
    """Change a record in IFS as a user would."""
    httpx.post(
        f"{info['ifs']['base_url']}/_sandbox/edit",
        json={"set": set_name, "key": key, "changes": changes},
        timeout=10,
    ).raise_for_status()


def edit_row(info: dict, head: dict, row: dict, **changes: object) -> None:
    key = {"Company": head["Company"], "ProposalId": head["ProposalId"], "RowNo": row["RowNo"]}
    edit(info, "PostingProposalLineSet", key, **changes)


def syncable(heads: dict) -> set[str]:
    return {k for k, h in heads.items() if h["Objstate"] in SYNCABLE}


def assert_entries_match(heads: dict, keys: set[str]) -> None:
    """Exactly one entry per proposal in `keys`, whose debits and credits per GL account
    and business unit equal the proposal's, compared through both APIs."""
    entries, maps = st_entries(), mappings()
    assert {k for k in entries if k in heads} == keys
    for key in keys:
        [entry] = entries[key]
        assert totals_st(entry) == totals_ifs(heads[key], maps), key
        assert entry["syncStatus"] == "Synced"
        externals = [o["id"] for line in entry["details"] for o in line["externalObjects"]]
        assert externals == [f"{key}-{int(r['RowNo'])}" for r in sorted(
            heads[key]["rows"], key=lambda r: int(r["RowNo"]))]  # fmt: skip


def test_the_readme_command_syncs_each_proposal_once_and_a_rerun_writes_nothing(
    sandbox_connection: dict,
    tmp_path,
) -> None:
    import subprocess
    import sys
    from pathlib import Path

    from connector_dagster.lib.settings import PROJECT_ROOT

    dagster = Path(sys.executable).parent / "dagster"
    proc = subprocess.run(
        [str(dagster), "asset", "materialize", "-m", "connector_dagster.definitions",
         "--select", "sandbox/ifs_gl_posting_proposals,sandbox/servicetitan_journal_entries",
         "--partition", PERIOD],
        cwd=PROJECT_ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    heads = ifs_proposals()
    assert_entries_match(heads, syncable(heads))
    st_base = sandbox_connection["servicetitan"]["api_url"]
    clear_counts(st_base)
    assert materialize().success
    assert writes(st_base) == Counter()


def test_a_changed_proposal_is_one_put_with_its_version(sandbox_connection: dict) -> None:
    assert materialize().success
    heads = ifs_proposals()
    key = next(k for k in sorted(syncable(heads)) if len(heads[k]["rows"]) >= 2)
    head = heads[key]
    credit = next(r for r in head["rows"] if r.get("CreditAmount"))
    debit = next(r for r in head["rows"] if r.get("DebetAmount"))
    more = {"CreditAmount": float(Decimal(str(credit["CreditAmount"])) + 10)}
    edit_row(sandbox_connection, head, credit, **more, CurrencyCreditAmount=more["CreditAmount"])
    plus = float(Decimal(str(debit["DebetAmount"])) + 10)
    edit_row(sandbox_connection, head, debit, DebetAmount=plus, CurrencyDebetAmount=plus)
    st_base = sandbox_connection["servicetitan"]["api_url"]
    [before] = st_entries()[key]
    clear_counts(st_base)
    assert materialize().success, failed()
    changed = writes(st_base)
    assert sum(n for (m, _), n in changed.items() if m == "PUT") == 1
    assert sum(n for (m, _), n in changed.items() if m == "POST") == 0
    heads = ifs_proposals()
    assert_entries_match(heads, syncable(heads))
    [after] = st_entries()[key]
    assert after["versionId"] == before["versionId"] + 1 and after["id"] == before["id"]


def test_bad_proposals_are_parked_each_with_its_reason_and_the_rest_written(
    sandbox_connection: dict,
) -> None:
    """Unbalanced; an unknown account; an unknown cost centre: each a failed record naming
    the proposal, the row and the field, while the rest of the period is written."""
    heads = ifs_proposals()
    keys = sorted(k for k in syncable(heads) if len(heads[k]["rows"]) >= 2)
    unbalanced, unknown_account, unknown_centre = (heads[k] for k in keys[:3])
    row = next(r for r in unbalanced["rows"] if r.get("DebetAmount"))
    plus = float(Decimal(str(row["DebetAmount"])) + Decimal("0.01"))
    edit_row(sandbox_connection, unbalanced, row, DebetAmount=plus, CurrencyDebetAmount=plus)
    edit_row(sandbox_connection, unknown_account, unknown_account["rows"][0], Account="7990")
    edit_row(sandbox_connection, unknown_centre, unknown_centre["rows"][-1], CodeB="CC900")

    result = materialize()
    assert not result.success
    parked = failed()
    assert set(parked) == set(keys[:3])
    a, b, c = (parked[k] for k in keys[:3])
    assert a.reason == "validation" and "does not balance in USD" in a.message
    assert b.reason == "mapping_missing" and "Account '7990' has no GL account mapping" in b.message
    assert c.reason == "mapping_missing" and "CodeB (cost centre) 'CC900'" in c.message
    for record, key in zip((a, b, c), keys[:3], strict=True):
        assert f"proposal {key!r}" in record.message
    assert "row " in b.message and "row " in c.message
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["pandera_schema"].passed and not checks["pandera_records"].passed
    heads = ifs_proposals()
    assert_entries_match(heads, syncable(heads) - set(keys[:3]))


def test_a_missing_account_is_created_in_servicetitan_when_the_connection_allows_it(
    sandbox_connection: dict,
) -> None:
    from pathlib import Path

    path = Path(os.environ["CONNECTOR_CONNECTIONS_FILE"])
    allowed = "gl_postings: {create_missing_accounts: true}"
    path.write_text(path.read_text().replace("gl_postings: {}", allowed))
    heads = ifs_proposals()
    key = sorted(syncable(heads))[0]
    edit_row(sandbox_connection, heads[key], heads[key]["rows"][0], Account="8100")
    assert materialize().success, failed()
    account_id = mappings()["gl_accounts"]["8100"]
    with Session.open("sandbox") as session:
        account = session.servicetitan.get("accounting", f"gl-accounts/{account_id}")
    assert (account["number"], account["name"]) == ("8100", "Bank Charges")
    heads = ifs_proposals()
    assert_entries_match(heads, syncable(heads))


def test_seeded_awkward_proposals_have_no_rows_or_too_many_decimals(
    sandbox_connection: dict,
) -> None:
    assert not materialize("2026-02-01").success
    heads = ifs_proposals("2026-02-01")
    by_reference = {h["Reference"]: k for k, h in heads.items()}
    parked = failed()
    no_rows = parked[by_reference["V1003-INV-NOLINES"]]
    decimals = parked[by_reference["V1003-INV-DECIMALS"]]
    assert no_rows.reason == "validation" and "has no rows" in no_rows.message
    assert decimals.reason == "validation"
    assert (
        "has more decimals than USD allows (2)" in decimals.message and "row 1" in decimals.message
    )
    assert_entries_match(heads, syncable(heads) - set(parked))


def test_a_proposal_in_a_closed_servicetitan_period_is_period_closed(
    sandbox_connection: dict,
) -> None:
    st_base = sandbox_connection["servicetitan"]["api_url"]
    httpx.post(f"{st_base}/_sandbox/accounting-periods/2026-10/close", timeout=10)
    clear_counts(st_base)
    assert not materialize().success
    parked = failed()
    heads = ifs_proposals()
    assert set(parked) == syncable(heads)
    assert all(f.reason == "period_closed" and "period 2026-10 is closed" in f.message
               for f in parked.values())  # fmt: skip
    assert st_entries() == {}
    httpx.post(f"{st_base}/_sandbox/accounting-periods/2026-10/reopen", timeout=10)
    assert materialize().success
    assert failed() == {}
    assert_entries_match(heads, syncable(heads))


def test_cancelled_and_removed_proposals_delete_their_entry_or_are_target_locked(
    sandbox_connection: dict,
) -> None:
    assert materialize().success
    heads = ifs_proposals()
    cancelled, removed, locked = sorted(syncable(heads))[:3]
    info = sandbox_connection

    def head(key: str) -> dict:
        return {"Company": "ACME01", "ProposalId": int(key.split("-")[1])}

    edit(info, "PostingProposalSet", head(cancelled), Objstate="Cancelled")
    httpx.post(
        f"{info['ifs']['base_url']}/_sandbox/delete",
        json={"set": "PostingProposalSet", "key": head(removed)},
        timeout=10,
    ).raise_for_status()
    edit(info, "PostingProposalSet", head(locked), Objstate="Cancelled")
    [locked_entry] = st_entries()[locked]
    with Session.open("sandbox") as session:
        session.servicetitan.patch(
            "accounting", f"journal-entries/{locked_entry['id']}", {"status": "Closed"}
        )
    assert not materialize().success
    entries = st_entries()
    assert cancelled not in entries and removed not in entries and locked in entries
    parked = failed()
    assert set(parked) == {locked}
    assert parked[locked].reason == "target_locked"
    assert str(locked_entry["id"]) in parked[locked].message


def test_the_change_sensor_requests_the_period_of_a_changed_proposal(
    sandbox_connection: dict,
) -> None:
    [sensor] = defs().sensors
    first = sensor(dg.build_sensor_context(cursor=None))
    assert first.run_requests == []
    heads = ifs_proposals("2026-09-01")
    head = heads[sorted(syncable(heads))[0]]
    edit_row(sandbox_connection, head, head["rows"][0], Text="changed later")
    [request] = sensor(dg.build_sensor_context(cursor=first.cursor)).run_requests
    assert request.partition_key == "2026-09-01"
    assert request.run_key.startswith("gl_postings-2026-09-01-")
