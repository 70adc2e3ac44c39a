"""F4's mapping, pure: a bill read (with its lines) and the mapping tables give its
posting set, or the problems naming the bill, the line and the field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connector_dagster.defs.bills.mapping import map_item, reference
from connector_dagster.defs.bills.settings import BillSettings
from connector_dagster.engine.records import Item
from connector_dagster.lib.mapping import Mappings

MAPS = Mappings(
    "test-1",
    {
        "ifs_accounts": {"130": "1300", "610": "6100"},
        "business_units": {"502": {"company": "ACME01", "cost_centre": "CC200"}},
        "ifs_tax_codes": {"15": {"tax_code": "TX-S", "account": "2200"}},
    },
)
PERIOD = {"key": "2026-10-01", "start": "2026-10-01", "end": "2026-11-01"}


def bill(kind: str = "inventory", **fields: Any) -> dict[str, Any]:
    return {
        "key": f"{kind}-66000001", "kind": kind, "id": 66000001, "billDate": "2026-10-07",
        "syncStatus": "Posted", "status": "Reconciled", "businessUnitId": 502, "taxZoneId": 15,
        "vendorName": "O'Brien Pipe & Valve", "vendorNumber": "INV-31337",
        "referenceNumber": "66000001", "summary": 'Special order: ½" fittings',
        "billAmount": "36.25", "taxAmount": "2.81", "shippingAmount": "15.00",
        "modifiedOn": "2026-10-07T10:00:00.000000Z", **fields,
    }  # fmt: skip


ITEMS = [
    {"billKey": "inventory-66000001", "line": "item", "id": 1, "quantity": "10",
     "cost": "2.35", "amount": None, "glAccountId": 130, "glAccountNumber": "1300",
     "glAccountName": "Inventory"},
    {"billKey": "inventory-66000001", "line": "item", "id": 2, "quantity": "1.5",
     "cost": "8.5", "amount": None, "glAccountId": 130, "glAccountNumber": "1300",
     "glAccountName": "Inventory"},
]  # fmt: skip


def mapped(head: dict[str, Any], lines: list[dict[str, Any]] = ITEMS, ours: bool = False):
    data = {"bill": head, "lines": lines, "period": PERIOD, "ours": ours}
    return map_item(Item(head["key"], head["modifiedOn"], data), MAPS, BillSettings())


def test_an_inventory_bill_debits_inventory_tax_and_shipping_and_credits_payable() -> None:
    result = mapped(bill())
    assert result.problem is None
    payload = result.payload
    assert payload["header"]["Reference"] == reference("inventory-66000001") == "ST-INB-66000001"
    assert payload["header"]["Text"].startswith(
        "ServiceTitan inventory bill 66000001 O'Brien Pipe & Valve INV-31337: Special order"
    )
    rows = {(r["Account"], r["Text"]): r for r in payload["rows"]}
    assert rows[("1300", "Inventory")]["CurrencyDebetAmount"] == Decimal("36.25")
    assert rows[("1300", "Tax TX-S")]["CurrencyDebetAmount"] == Decimal("2.81")
    assert rows[("1300", "Shipping")]["CurrencyDebetAmount"] == Decimal("15.00")
    payable = rows[("2000", "O'Brien Pipe & Valve INV-31337")]
    assert payable["CurrencyCreditAmount"] == Decimal("54.06")
    assert payload["export"] == {"kind": "inventory", "id": 66000001}


def test_an_ap_bill_debits_its_expense_lines() -> None:
    lines = [{"billKey": "ap-66000001", "line": "expense", "id": 9, "quantity": None,
              "cost": None, "amount": "120.40", "glAccountId": 610, "glAccountNumber": "6100",
              "glAccountName": "Vehicle Expense"}]  # fmt: skip
    head = bill("ap", billAmount="120.40", taxAmount="0.00", shippingAmount="0.00")
    result = mapped(head, lines)
    assert reference("ap-66000001") == "ST-APB-66000001"
    assert [(r["Account"], r["CurrencyDebetAmount"], r["CurrencyCreditAmount"])
            for r in result.payload["rows"]] == [
        ("6100", Decimal("120.40"), None), ("2000", None, Decimal("120.40"))
    ]  # fmt: skip


def test_bills_not_written_are_said_and_a_cancelled_one_is_cancelled() -> None:
    elsewhere = mapped(bill(syncStatus="PostedAndExported"))
    assert elsewhere.op == "ignore" and "by someone else" in elsewhere.note
    assert mapped(bill(syncStatus="PostedAndExported"), ours=True).op == "upsert"
    assert mapped(bill(syncStatus="Pending")).op == "ignore"
    assert mapped(bill(status="Canceled")).op == "cancel"


def test_each_problem_names_the_bill_the_line_and_the_field() -> None:
    lines = [{**ITEMS[0], "glAccountId": 501}, {**ITEMS[1], "quantity": "x"}]
    reason, message = mapped(bill(businessUnitId=509, taxZoneId=None), lines).problem
    assert reason == "mapping_missing"
    for text in (
        "inventory bill 66000001: item 1 generalLedgerAccount '501' (1300 Inventory) has no "
        "IFS account mapping",
        "inventory bill 66000001: item 2 quantity 'x' or cost '8.5' is not a number",
        "inventory bill 66000001: businessUnit '509' has no IFS company and cost centre mapping",
        "inventory bill 66000001: has taxAmount 2.81 but no taxZone",
    ):
        assert text in message, message
    reason, message = mapped(bill(billAmount="40.00")).problem
    assert reason == "validation"
    assert "its lines add up to 36.25 but its billAmount is 40.00" in message
