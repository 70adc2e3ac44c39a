"""Finance's page as a person uses it, in headless Chromium: the grid shows F1's 2026-05
red (two POs ServiceTitan cannot take); finance ignores one and resolves the other with
a note and a name, the period is no longer red and, reconciled again, reconciles; then
finance traces a PO. Screenshots in test-artifacts/ui/ (finance-grid.png,
finance-clean.png, finance-trace.png)."""

from __future__ import annotations

import re

from connector_dagster.engine.registry import flow as flow_spec
from connector_dagster.finance.access import Access
from connector_dagster.finance.server import running
from connector_dagster.lib import db
from connector_dagster.lib.store import Store
from connector_dagster_tests.browser import ARTIFACTS, FLAGS, chromium
from connector_dagster_tests.engine.test_set_aside import FLOW, NEGATIVE_PRICE, NO_PART, PERIOD
from connector_dagster_tests.flows import support

UI_WAIT_MS = 120_000
"""How long the browser waits for a state of the page (Playwright's default: 5 s)."""


def test_finance_sees_the_grid_sets_failures_aside_and_traces_a_record(
    sandbox_connection: dict,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    assert support.write_in_process(FLOW, PERIOD)["failed"] == 2
    store = Store(db.database_url())
    synced = sorted(k for k, e in store.ledger_for_partition("sandbox", FLOW, PERIOD).items()
                    if e.status == "synced")[0]  # fmt: skip
    target_id = store.ledger("sandbox", FLOW, [synced])[synced].target_id
    label = flow_spec(FLOW).label
    shots = ARTIFACTS / "ui"
    shots.mkdir(parents=True, exist_ok=True)
    access = Access.for_host("127.0.0.1", None)
    with (
        running(store, ["sandbox"], access, "http://127.0.0.1:3000") as base,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=str(chromium()), args=FLAGS)
        page = browser.new_page(viewport={"width": 1500, "height": 900})
        page.set_default_timeout(UI_WAIT_MS)
        expect.set_options(timeout=UI_WAIT_MS)

        page.goto(base)
        cell = page.locator(f'td[data-period="2026-05"][data-flow="{FLOW}"]')
        expect(cell).to_have_class(re.compile(r"\bred\b"))
        expect(cell).to_contain_text("2 failed")
        page.screenshot(path=str(shots / "finance-grid.png"), full_page=True)

        cell.get_by_role("link", name="2 failed").click()
        expect(page.get_by_role("heading", name="Open failed records of sandbox")).to_be_visible()
        credit = "A credit, not a PO: booked as a credit note"
        for key, action, note, by in (
            (NEGATIVE_PRICE, "Ignore", credit, "Ana Ruiz"),
            (NO_PART, "Resolve", "Keyed by hand in ServiceTitan as PO 4711", "Bo Lee"),
        ):
            page.get_by_label(f"select {key}").check()
            page.get_by_label("Note").fill(note)
            page.get_by_label("Your name").fill(by)
            page.get_by_role("button", name=action, exact=True).click()
            expect(page.get_by_role("status")).to_contain_text(f"record(s) by {by}")
        expect(page.get_by_role("status")).to_contain_text(
            f"no open failed record left in {FLOW} 2026-05"
        )
        expect(page.get_by_text("0 record(s).")).to_be_visible()

        page.get_by_role("link", name="Periods").click()
        expect(cell).not_to_have_class(re.compile(r"\bred\b"))
        expect(cell).to_contain_text("2 set aside")
        cell.get_by_role("button", name=f"Reconcile {label} 2026-05").click()
        expect(page.get_by_role("status")).to_contain_text(f"{label} 2026-05 reconciles")
        expect(cell).to_have_class(re.compile(r"\breconciles\b"))
        page.screenshot(path=str(shots / "finance-clean.png"), full_page=True)

        page.get_by_label("record key").fill(NEGATIVE_PRICE)
        page.get_by_role("button", name="Trace").click()
        expect(page.get_by_text(credit).first).to_be_visible()
        expect(page.get_by_text("ignored by Ana Ruiz")).to_be_visible()

        page.get_by_label("record key").fill(synced)
        page.get_by_role("button", name="Trace").click()
        expect(page.get_by_role("heading", name=f"Where is {synced}?")).to_be_visible()
        expect(page.locator("strong.target-id")).to_have_text(str(target_id))
        page.locator("tr.action-create").get_by_text("payload sent").click()
        expect(page.locator("tr.action-create pre")).to_contain_text('"items"')
        page.screenshot(path=str(shots / "finance-trace.png"), full_page=True)
        browser.close()
    store.close()
