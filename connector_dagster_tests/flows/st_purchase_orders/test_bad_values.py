"""F5 with values ServiceTitan holds but no one should write into IFS: a NUL character
in an item's description and a cost of 10^12. The read succeeds; the NUL is cleaned
and that PO created in IFS; the absurd one is parked as `validation` naming the PO,
the field and the bound, never created; every other PO of the period is written. Real
HTTP to both simulators, real PostgreSQL."""

from __future__ import annotations

from connector_dagster_tests.flows.st_purchase_orders.test_bad_input import ifs_po_of, st_po
from connector_dagster_tests.flows.st_purchase_orders.test_flow import (
    SYNCABLE,
    assert_same_pos,
    failed,
    ifs_raised,
    materialize,
    st_raised,
)


def item(description: str, cost: int) -> dict:
    return {"skuId": 55501, "description": description, "vendorPartNumber": "x",
            "quantity": 2, "cost": cost}  # fmt: skip


def test_a_nul_in_an_item_is_cleaned_and_an_absurd_cost_is_parked_the_rest_written(
    sandbox_connection: dict,
) -> None:
    nul = st_po([item("Elbow\u0000 1/2in", 3)])
    huge = st_po([item("Elbow", 10**12)])

    result = materialize()
    done = {e.step_key for e in result.get_step_success_events()}
    assert any(k.endswith("servicetitan_purchase_orders_raised") for k in done), "read failed"
    assert not result.success  # the write step parks the absurd one, then fails

    [(key, record)] = failed().items()
    assert (key, record.reason) == (str(huge["id"]), "validation")
    assert "item 1 (P-10001) cost (IFS BuyUnitPrice) 1000000000000" in record.message
    assert "is above the flow's bound 100000000 (bounds.max_amount)" in record.message
    assert "correct it in ServiceTitan" in record.message
    st = st_raised()
    assert_same_pos(st, {n for n, po in st.items() if po["status"] in SYNCABLE} - {huge["number"]})
    assert huge["number"] not in ifs_raised()[0]
    _, lines = ifs_po_of(nul["number"])
    assert [ln["Description"] for ln in lines] == ["Elbow 1/2in"]
