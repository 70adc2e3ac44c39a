"""F3's mapping, pure: an invoice read (with items and job) and the mapping tables give
its posting set, or the problems naming the invoice, the item and the field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connector_dagster.defs.invoices.mapping import map_item
from connector_dagster.defs.invoices.settings import InvoiceSettings
from connector_dagster.engine.records import Item
from connector_dagster.lib.mapping import Mappings

MAPS = Mappings(
    "test-1",
    {
        "ifs_accounts": {"401": "4010", "402": "4020"},
        "business_units": {"501": {"company": "ACME01", "cost_centre": "CC100"}},
        "ifs_tax_codes": {"14": {"tax_code": "TX-N", "account": "2200"}},
    },
)
SETTINGS = InvoiceSettings()
PERIOD = {"key": "2026-10-01", "start": "2026-10-01", "end": "2026-11-01"}


def invoice(**fields: Any) -> dict[str, Any]:
    return {
        "id": 77000001, "number": "88000001", "invoiceDate": "2026-10-05", "syncStatus": "Posted",
        "active": True, "exportId": None, "businessUnitId": 501, "taxZoneId": 14,
        "customerName": "Zoë O'Connor", "summary": "Leak", "subTotal": "245.00",
        "salesTax": "9.25", "total": "254.25", "jobId": 88000001, "adjustmentToId": None,
        "modifiedOn": "2026-10-05T10:00:00.000000Z", **fields,
    }  # fmt: skip


def items(*rows: tuple[int, str, int]) -> list[dict[str, Any]]:
    return [
        {"invoiceId": 77000001, "id": n, "order": n, "total": total, "glAccountId": account,
         "glAccountNumber": str(account * 10), "glAccountName": f"Sales {account}"}
        for n, total, account in rows
    ]  # fmt: skip


ITEMS = items((1, "145.00", 402), (2, "100.00", 401))
JOB = {"id": 88000001, "jobNumber": "88000001", "jobTypeId": 31, "businessUnitId": 501}


def mapped(head: dict[str, Any], lines: list[dict[str, Any]] = ITEMS, job: Any = JOB,
           settings: InvoiceSettings = SETTINGS):  # fmt: skip
    data = {"invoice": head, "items": lines, "job": job, "period": PERIOD}
    return map_item(Item(str(head["id"]), head["modifiedOn"], data), MAPS, settings)


def nets(payload: dict[str, Any]) -> dict[str, Decimal]:
    return {
        r["Account"]: (r["CurrencyDebetAmount"] or 0) - (r["CurrencyCreditAmount"] or 0)
        for r in payload["rows"]
    }


def test_an_invoice_debits_receivable_and_credits_revenue_per_account_and_tax() -> None:
    result = mapped(invoice())
    assert result.problem is None and result.op == "upsert"
    payload = result.payload
    assert payload["header"] == {
        "Company": "ACME01", "VoucherType": "GL", "VoucherDate": "2026-10-05",
        "Reference": "ST-INV-77000001",
        "Text": "ServiceTitan invoice 88000001 (77000001) Zoë O'Connor, job 88000001: Leak",
    }  # fmt: skip
    assert nets(payload) == {"4020": -145, "4010": -100, "1200": Decimal("254.25"),
                             "2200": Decimal("-9.25")}  # fmt: skip
    assert {r["CodeB"] for r in payload["rows"]} == {"CC100"}
    assert payload["export"] == {"invoiceId": 77000001}


def test_an_adjustment_credits_receivable_and_debits_revenue() -> None:
    negative = invoice(subTotal="-145.00", salesTax="0.00", total="-145.00")
    result = mapped(negative, items((1, "-145.00", 402)))
    assert nets(result.payload) == {"4020": 145, "1200": -145}
    credit = next(r for r in result.payload["rows"] if r["Account"] == "1200")
    assert credit["CurrencyCreditAmount"] == 145 and credit["CurrencyDebetAmount"] is None


def test_what_is_not_written_is_said_and_an_inactive_invoice_is_cancelled() -> None:
    elsewhere = mapped(invoice(syncStatus="Exported", exportId="QB-7781"))
    assert elsewhere.op == "ignore" and "externalId 'QB-7781'" in elsewhere.note
    ours = mapped(invoice(syncStatus="Exported", exportId="IFS ACME01/17"))
    assert ours.op == "upsert" and ours.problem is None
    pending = mapped(invoice(syncStatus="Pending"))
    assert pending.op == "ignore" and "is Pending in ServiceTitan" in pending.note
    assert mapped(invoice(active=False)).op == "cancel"
    free = mapped(invoice(subTotal="0.00", salesTax="0.00", total="0.00"),
                  items((1, "0.00", 402)))  # fmt: skip
    assert free.op == "ignore" and "totals 0.00" in free.note


def test_each_problem_names_the_invoice_the_item_and_the_field() -> None:
    bad = invoice(invoiceDate="2026-11-02", businessUnitId=None, subTotal="245.001")
    lines = [*ITEMS[:1], {**ITEMS[1], "glAccountId": None}]
    reason, message = mapped(bad, lines, job=None).problem
    assert reason == "validation"
    for text in (
        "invoice 77000001: invoiceDate 2026-11-02 is outside the period 2026-10",
        "invoice 77000001: subTotal 245.001 has more decimals than USD allows (2)",
        "invoice 77000001: item 2 has no generalLedgerAccount",
        "invoice 77000001: jobId 88000001 names a job ServiceTitan did not return",
        "invoice 77000001: has no businessUnit",
    ):
        assert text in message, message
    unknown = mapped(invoice(taxZoneId=99), items((1, "145.00", 403), (2, "100.00", 401)))
    reason, message = unknown.problem
    assert reason == "mapping_missing"
    assert "item 1 generalLedgerAccount '403' (4030 Sales 403) has no IFS account mapping" in (
        message
    )
    assert "taxZoneId '99' has no IFS tax code mapping" in message


def test_the_job_number_goes_into_a_code_part_when_asked() -> None:
    result = mapped(invoice(), settings=InvoiceSettings(job_code_part="CodeC"))
    assert {r["CodeC"] for r in result.payload["rows"]} == {"88000001"}
