"""Values no one should write, handled by the engine for every flow: text PostgreSQL or
a target cannot hold is cleaned where it is read (and jsonb never refuses what slipped
by); amounts and quantities outside the flow's bounds are named, field and fix. Plain
data, except the store test (a real PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from connector_dagster.engine import connections, registry
from connector_dagster.engine.bounds import Bounds, out_of_bounds
from connector_dagster.engine.text import clean_frames, clean_text
from connector_dagster.lib.settings import ConfigError
from connector_dagster.lib.store import Audit, RecordRef, Store
from connector_dagster_tests.engine.test_connections import GOOD, write


def test_control_characters_are_removed_and_each_cleaned_cell_is_named() -> None:
    assert clean_text("a\x00b\x07c\td\ne\r\x1bf\ud800") == "abc\td\ne\rf\ufffd"
    frames = {
        "lines": pd.DataFrame(
            [["PO-1", 1, "ok", 2], ["PO-2", 3, "Cop\x00per", {"note": "x\x01"}]],
            columns=["OrderNo", "LineNo", "Description", "extra"],
            dtype=object,
        )
    }
    cleaned, notes = clean_frames(frames)
    assert cleaned["lines"].at[1, "Description"] == "Copper"
    assert cleaned["lines"].at[1, "extra"] == {"note": "x"}
    assert frames["lines"].at[1, "Description"] == "Cop\x00per"  # the read's frame is kept
    assert notes == [
        "lines row 2 (OrderNo 'PO-2', LineNo 3) Description: removed U+0000 that a store "
        "or target cannot hold",
        "lines row 2 (OrderNo 'PO-2', LineNo 3) extra: removed U+0001 that a store or "
        "target cannot hold",
    ]
    clean = {"t": pd.DataFrame([["a", 1]], columns=["x", "y"], dtype=object)}
    assert clean_frames(clean) == (clean, [])


@pytest.mark.parametrize("flow", sorted(registry.flows()))
def test_every_flow_declares_its_amounts(flow: str) -> None:
    spec = registry.flow(flow)
    assert spec.amounts is not None and spec.amounts.amounts and spec.amounts.total
    assert spec.settings().bounds == Bounds()


F3_PAYLOAD = {
    "header": {"Text": "x"},
    "rows": [
        {"Account": "1200", "CurrencyDebetAmount": Decimal("1E+12"), "CurrencyCreditAmount": None},
        {"Account": "4000", "CurrencyDebetAmount": None, "CurrencyCreditAmount": Decimal("1E+12")},
    ],
}


def test_an_amount_out_of_bounds_names_record_field_bound_and_fix() -> None:
    spec = registry.flow("invoices")
    found = out_of_bounds(F3_PAYLOAD, spec.amounts, Bounds(), "invoice '7'", "ServiceTitan",
                          "invoices")  # fmt: skip
    assert found == [
        "invoice '7': row 1 (account 1200) debit 1000000000000 is above the flow's bound "
        "100000000 (bounds.max_amount): correct it in ServiceTitan, or change `bounds: "
        "{max_amount: ...}` under `flows: invoices:` of the connection, then replay this record",
        "invoice '7': row 2 (account 4000) credit 1000000000000 is above the flow's bound "
        "100000000 (bounds.max_amount): correct it in ServiceTitan, or change `bounds: "
        "{max_amount: ...}` under `flows: invoices:` of the connection, then replay this record",
    ]
    raised = Bounds(max_amount=Decimal(10**13))
    assert out_of_bounds(F3_PAYLOAD, spec.amounts, raised, "invoice '7'", "ST", "invoices") == []


def test_a_document_total_is_bounded_when_each_amount_is_not() -> None:
    spec = registry.flow("st_purchase_orders")
    lines = [{"PartNo": "P-1", "BuyQtyDue": Decimal(1000), "BuyUnitPrice": Decimal(500_000)}]
    [problem] = out_of_bounds({"lines": lines}, spec.amounts, Bounds(), "PO '9'", "ServiceTitan",
                              "st_purchase_orders")  # fmt: skip
    assert "PO '9': total of items 500000000 is above the flow's bound 100000000" in problem


def test_the_bounds_of_a_flow_are_set_in_its_block_and_checked_naming_the_line(
    tmp_path: Path,
) -> None:
    models = {name: spec.settings for name, spec in registry.flows().items()}
    bounds = "bounds: {max_amount: 5000, decimal_places: 2}"
    block = f"    flows:\n      purchase_orders:\n        {bounds}"
    conn = connections.load(write(tmp_path, GOOD + block + "\n"), flow_models=models)["acme"]
    bounds = conn.flows["purchase_orders"].bounds
    assert (bounds.max_amount, bounds.max_quantity, bounds.decimal_places) == (
        Decimal(5000), Decimal(10**6), 2
    )  # fmt: skip
    bad = "    flows:\n      invoices:\n        bounds: {max_quantity: -1}\n"
    with pytest.raises(ConfigError, match=r"connections.yaml:\d+: .*invoices.bounds.max_quantity"):
        connections.load(write(tmp_path, GOOD + bad), flow_models=models)


def test_jsonb_and_the_ledger_take_a_nul_that_slipped_by(store: Store) -> None:
    ref = RecordRef("c", "f", "k")
    payload = {"description": "a\x00b", "nested": ["\ud800", "back\\u0000slash"]}
    store.record_failed(ref, reason="validation", message="m", payload=payload,
                        audit=Audit("fail"))  # fmt: skip
    store.record_synced(ref, target_id="1", payload_hash="h", audit=Audit("create"),
                        payload=payload)  # fmt: skip
    store.save_snapshot("a", "p", {"frames": {"t": {"rows": [["x\x00"]]}}})
    [failed] = store.failed(include_resolved=True)
    assert failed.payload == {"description": "a\ufffdb", "nested": ["\ufffd", "back\\u0000slash"]}
    assert store.ledger("c", "f", ["k"])["k"].last_payload == failed.payload
    assert store.load_snapshot("a", "p") == {"frames": {"t": {"rows": [["x\ufffd"]]}}}
