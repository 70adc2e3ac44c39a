"""How a reconciliation reads to people: amounts alike on every side, counts whole,
differences named, the chart drawn from record counts."""

from __future__ import annotations

from decimal import Decimal

from connector_dagster.engine.reconcile import FlowReconciliation, shown
from connector_dagster.engine.reconcile_report import chart_png, markdown, text


def test_a_total_shows_cents_on_every_side_when_one_side_has_them() -> None:
    row = {"source": Decimal("1212.00"), "target": Decimal("1212"), "ledger": Decimal("1212.0")}
    assert shown(row) == {"source": "1212.00", "target": "1212.00", "ledger": "1212.00"}


def test_a_count_stays_whole_and_a_finer_amount_stays_exact() -> None:
    counts = {"source": Decimal(3), "target": Decimal(3), "ledger": Decimal(3)}
    assert shown(counts) == {"source": "3", "target": "3", "ledger": "3"}
    fine = {"source": Decimal("0.125"), "target": Decimal("0.13"), "ledger": Decimal("0.125")}
    assert shown(fine) == {"source": "0.125", "target": "0.13", "ledger": "0.125"}


def test_the_reports_name_a_difference_and_the_chart_is_a_png() -> None:
    result = FlowReconciliation("invoices", "F3", ("account", "measure"))
    result.totals = {
        ("1200", "debit"): {"source": Decimal("10.50"), "target": Decimal("10.5"),
                            "ledger": Decimal("10.50")},
        ("4010", "credit"): {"source": Decimal("7.00"), "target": Decimal("6"),
                             "ledger": Decimal("7.00")},
    }  # fmt: skip
    result.counts = {"source_records": 2, "target_records": 2, "ledger_synced": 2}
    assert result.differences == ["4010 x credit: source 7.00, target 6.00, ledger 7.00"]
    assert "| 1200 | debit | 10.50 | 10.50 | 10.50 |" in markdown("2026-10-01", [result])
    assert "| 4010 | credit | 7.00 | 6.00 | 7.00 ⚠ |" in markdown("2026-10-01", [result])
    assert "1200 / debit: source 10.50 target 10.50 ledger 10.50" in text("2026-10-01", [result])
    assert chart_png("2026-10-01", [result]).startswith(b"\x89PNG")
