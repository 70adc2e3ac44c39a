"""F3 with values ServiceTitan holds but no one should post: a NUL character in an
invoice's summary (PostgreSQL cannot hold it) and an invoice of 10^12. The read
succeeds; the NUL is cleaned from the text and that invoice posted; the absurd one is
parked as `validation` naming the invoice, the row and the bound, never posted nor
marked exported; every other invoice of the period is posted. Real HTTP to both
simulators, real PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

from connector_dagster_tests.flows.invoices.test_flow import (
    FLOW,
    PERIOD,
    assert_posted,
    postable,
    st_invoices,
    st_post,
)
from connector_dagster_tests.flows.postings import failed, materialize, postings


def test_a_nul_in_a_summary_is_cleaned_and_an_absurd_invoice_is_parked_the_rest_posted(
    sandbox_connection: dict,
) -> None:
    keys = sorted(postable(st_invoices()))
    nul, huge = keys[:2]
    st_post(sandbox_connection, "/_sandbox/invoices",
            {"id": int(nul), "summary": "Boiler\u0000 service\u001b"})  # fmt: skip
    absurd = [{"skuId": 61002, "quantity": 1, "price": 10**12}]
    st_post(sandbox_connection, "/_sandbox/invoices", {"id": int(huge), "items": absurd})
    invoices = st_invoices()
    assert "\x00" in invoices[nul]["summary"]
    assert Decimal(str(invoices[huge]["total"])) >= 10**12

    result = materialize(FLOW, PERIOD)
    done = {e.step_key for e in result.get_step_success_events()}
    assert any("servicetitan_invoices" in k for k in done), "the read failed"
    read = next(
        m for m in result.get_asset_materialization_events()
        if m.asset_key.path[-1] == "servicetitan_invoices"
    ).materialization.metadata  # fmt: skip
    assert read["cleaned_text"].value == 1
    assert "summary" in str(read["cleaned_text_where"].value)
    assert not result.success  # the write step parks the absurd one, then fails

    [(key, record)] = failed(FLOW).items()
    assert (key, record.reason) == (huge, "validation")
    assert f"invoice {huge!r}: row" in record.message
    assert "is above the flow's bound 100000000 (bounds.max_amount)" in record.message
    assert "correct it in ServiceTitan" in record.message

    assert_posted(postable(st_invoices()) - {huge}, besides={huge})
    sets = postings("ST-INV-")
    assert f"ST-INV-{huge}" not in sets
    assert st_invoices()[huge]["syncStatus"] == "Posted"
    [posting] = sets[f"ST-INV-{nul}"]
    assert "Boiler service" in posting["Text"] and "\x00" not in posting["Text"]
    for found in sets.values():
        for posting in found:
            for row in posting["rows"]:
                for field in ("DebetAmount", "CreditAmount"):
                    assert Decimal(str(row.get(field) or 0)) <= 10**8
