"""`connector-dagster check` against the simulators: it passes on the sandbox as
seeded, and names each difference and its fix when the IFS simulator serves another
release's names or the ServiceTitan app lacks a scope."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from connector_dagster.cli import main


@pytest.fixture
def sandbox_switches(sandbox_connection: dict) -> Iterator[dict]:
    """The sandbox; its IFS names and ServiceTitan scopes put back afterwards."""
    ifs, st = sandbox_connection["ifs"]["base_url"], sandbox_connection["servicetitan"]["api_url"]
    yield sandbox_connection
    httpx.put(f"{ifs}/_sandbox/behaviour", json={"release": "", "renames": {}}).raise_for_status()
    httpx.put(f"{st}/_sandbox/faults", json={}).raise_for_status()


def _check(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    code = main(["check", "--connection", "sandbox", "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def test_check_passes_against_the_sandbox(
    sandbox_connection: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--connection", "sandbox"]) == 0
    out = capsys.readouterr().out
    assert "ok        ifs token: granted for 180 s" in out
    assert "ok        servicetitan token: granted for 900 s" in out
    assert "ok        servicetitan tenant 1234567" in out
    assert (
        "ok        ifs purchase_orders: PurchaseOrderHandling.svc/PurchaseOrderSet: 10 fields"
        in out
    )
    assert "OrderDate Edm.Date" in out
    assert "ok        servicetitan gl_postings: accounting/journal-entries" in out
    assert out.rstrip().endswith("every enabled flow can run")
    code, report = _check(capsys)
    assert code == 0 and report["blocked_flows"] == []
    flows = {c["flow"] for c in report["checks"]}
    assert flows == {
        "",
        "purchase_orders",
        "gl_postings",
        "invoices",
        "bills",
        "st_purchase_orders",
    }
    assert all(c["status"] == "ok" for c in report["checks"])


def test_another_release_and_a_missing_scope_are_named_with_their_fix(
    sandbox_switches: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    ifs, st = sandbox_switches["ifs"]["base_url"], sandbox_switches["servicetitan"]["api_url"]
    renames = {
        "ExternalVoucherHandling.svc/ExternalVoucherRowSet": "ExternalVoucherLineSet",
        "PostingProposalHandling": "PostingProposalsHandling",
    }
    httpx.put(f"{ifs}/_sandbox/behaviour", json={"renames": renames}).raise_for_status()
    forbidden = {"forbidden_routes": ["accounting/journal-entries"]}
    httpx.put(f"{st}/_sandbox/faults", json=forbidden).raise_for_status()

    code, report = _check(capsys)
    assert code == 1
    assert report["blocked_flows"] == ["bills", "gl_postings", "invoices"]
    wrong = {(c["flow"], c["subject"]): c for c in report["checks"] if c["status"] != "ok"}
    assert set(wrong) == {
        ("invoices", "ExternalVoucherHandling.svc/ExternalVoucherRowSet"),
        ("bills", "ExternalVoucherHandling.svc/ExternalVoucherRowSet"),
        ("gl_postings", "PostingProposalHandling.svc/PostingProposalSet"),
        ("gl_postings", "PostingProposalHandling.svc/PostingProposalLineSet"),
        ("gl_postings", "accounting/journal-entries"),
    }
    rows = wrong[("invoices", "ExternalVoucherHandling.svc/ExternalVoucherRowSet")]
    assert rows["status"] == "differs"
    assert rows["candidates"][0] == "ExternalVoucherLineSet"
    assert rows["fix"] == (
        "set flows.invoices.rows_set to ExternalVoucherHandling.svc/ExternalVoucherLineSet"
    )
    head = wrong[("gl_postings", "PostingProposalHandling.svc/PostingProposalSet")]
    assert head["status"] == "missing"
    assert "set flows.gl_postings.headers_set to the projection" in head["fix"]
    scope = wrong[("gl_postings", "accounting/journal-entries")]
    assert scope["status"] == "forbidden"
    assert "no scope for accounting/journal-entries" in scope["detail"]
    assert "scope for accounting/journal-entries (read and write)" in scope["fix"]

    assert main(["check", "--connection", "sandbox"]) == 1
    text = capsys.readouterr().out
    assert (
        "differs   ifs bills: ExternalVoucherHandling.svc/ExternalVoucherRowSet: "
        "ExternalVoucherHandling.svc serves no entity set ExternalVoucherRowSet "
        "(candidates: ExternalVoucherLineSet" in text
    )
    assert text.rstrip().endswith("3 flow(s) cannot run: bills, gl_postings, invoices")


def test_a_release_that_renames_what_no_flow_uses_still_passes(
    sandbox_switches: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    """25R1 serves PurchaseOrderHandling's lines as PurchaseOrderLineNopartSet; the flows
    read every line from the Entity Service, so nothing they use differs."""
    ifs = sandbox_switches["ifs"]["base_url"]
    httpx.put(f"{ifs}/_sandbox/behaviour", json={"release": "25R1"}).raise_for_status()
    code, report = _check(capsys)
    assert code == 0, [c for c in report["checks"] if c["status"] != "ok"]


def test_a_wrong_app_key_and_a_misspelt_field_are_named_with_their_fix(
    sandbox_connection: dict, db_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from connector_dagster.engine import connections
    from connector_dagster.lib.store import Store
    from connector_dagster.systems.vault import Vault

    file = connections.connections_path()
    file.write_text(
        file.read_text().replace(
            "purchase_orders: {}", "purchase_orders: {servicetitan_reference_field: Referense}"
        )
    )
    code, report = _check(capsys)
    assert code == 1 and report["blocked_flows"] == ["purchase_orders"]
    [wrong] = [c for c in report["checks"] if c["status"] != "ok"]
    assert (wrong["status"], wrong["subject"]) == (
        "missing", "PurchaseOrderHandling.svc/PurchaseOrderSet",
    )  # fmt: skip
    assert wrong["detail"] == "PurchaseOrderSet has no field(s) Referense"
    assert wrong["candidates"] == ["Referense~Reference"]

    store = Store(db_env)
    Vault(store).set("sandbox", "servicetitan", "app_key", "ak1.not-the-apps-key")
    store.close()
    code, report = _check(capsys)
    assert code == 1
    key = next(c for c in report["checks"] if c["subject"] == "app key")
    assert key["status"] == "forbidden" and "application key is not valid" in key["detail"]
    assert key["fix"] == "set the app's key: credentials set sandbox servicetitan app_key"
    assert {c["subject"] for c in report["checks"] if c["flow"]} == {"not checked"}
    assert sorted(report["blocked_flows"]) == sorted(
        ["bills", "gl_postings", "invoices", "purchase_orders", "st_purchase_orders"]
    )


def test_a_wrong_ifs_realm_fails_the_token_and_names_the_fix(
    sandbox_connection: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    from connector_dagster.engine import connections

    file = connections.connections_path()
    realm = sandbox_connection["ifs"]["realm"]
    file.write_text(file.read_text().replace(f"realm: {realm},", "realm: acme9,"))
    assert main(["check", "--connection", "sandbox"]) == 1
    out = capsys.readouterr().out
    [line] = [line for line in out.splitlines() if line.startswith("failed    ifs token")]
    assert "-> fix: check the IFS realm (acme9) and the vault's ifs client_id" in line
    assert out.rstrip().endswith("5 flow(s) cannot run: bills, gl_postings, invoices, "
                                 "purchase_orders, st_purchase_orders")  # fmt: skip
