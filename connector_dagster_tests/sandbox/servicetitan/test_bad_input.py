"""ServiceTitan simulator, bad input: a 400 with ServiceTitan's `ApiErrorResponse`
body naming the offending field, never a 500 — over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connector_dagster_tests.sandbox.servicetitan.support import StSandbox, new_po, st_sandbox

EXPORTS = (
    ("inventory", "export/purchase-orders"),
    ("accounting", "export/invoices"),
    ("accounting", "export/invoice-items"),
    ("accounting", "export/inventory-bills"),
    ("jpm", "export/jobs"),
    ("settings", "export/business-units"),
)
NOT_STRINGS = ({}, [], 20260301, True)


@pytest.fixture(scope="module")
def st() -> Iterator[StSandbox]:
    with st_sandbox() as sandbox:
        yield sandbox


def _assert_bad_request(response: httpx.Response, field: str) -> None:
    """400 with the spec's `ApiErrorResponse`: {type, title, status, traceId, errors, data}."""
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"type", "title", "status", "traceId", "errors", "data"}
    assert body["status"] == 400 and body["title"]
    assert field in body["errors"] and all(body["errors"][field]), body["errors"]


@pytest.mark.parametrize(("module", "path"), EXPORTS)
@pytest.mark.parametrize("start", ["ü", "2026-12-01ü", "Ärger", "€"])
def test_a_non_ascii_from_on_an_export_is_a_400(
    st: StSandbox, module: str, path: str, start: str
) -> None:
    _assert_bad_request(st.get(module, path, **{"from": start}), "from")


@pytest.mark.parametrize("value", NOT_STRINGS)
@pytest.mark.parametrize("name", ["date", "requiredOn"])
def test_a_non_string_date_in_a_po_create_is_a_400(st: StSandbox, name: str, value: Any) -> None:
    response = st.call("POST", "inventory", "purchase-orders", json=new_po(**{name: value}))

    _assert_bad_request(response, name)


@pytest.mark.parametrize("value", NOT_STRINGS)
@pytest.mark.parametrize("name", ["date", "requiredOn"])
def test_a_non_string_date_in_a_po_update_is_a_400(st: StSandbox, name: str, value: Any) -> None:
    created = st.ok("POST", "inventory", "purchase-orders", json=new_po())

    response = st.call("PATCH", "inventory", f"purchase-orders/{created['id']}", json={name: value})

    _assert_bad_request(response, name)


def _entry(**overrides: Any) -> dict[str, Any]:
    line = {"accountId": 130, "debit": 10.0, "credit": 0, "businessUnitId": 501}
    other = {"accountId": 200, "debit": 0, "credit": 10.0, "businessUnitId": 501}
    return {
        "name": "bad date",
        "status": "Open",
        "versionId": 1,
        "lines": [line, other],
    } | overrides


@pytest.mark.parametrize("value", NOT_STRINGS)
def test_a_non_string_post_date_in_a_journal_entry_create_is_a_400(
    st: StSandbox, value: Any
) -> None:
    header = st.call("POST", "accounting", "journal-entries", json=_entry(postDate=value))
    entry = _entry()
    entry["lines"][0]["postDate"] = value
    line = st.call("POST", "accounting", "journal-entries", json=entry)

    _assert_bad_request(header, "postDate")
    _assert_bad_request(line, "lines[0].postDate")


def test_a_non_string_invoice_date_in_a_sandbox_invoice_is_a_400_and_changes_nothing(
    st: StSandbox,
) -> None:
    before = st.control("GET", "state")["counts"]

    response = st.client.post("/_sandbox/invoices", json={"invoiceDate": {}})

    _assert_bad_request(response, "invoiceDate")
    assert st.control("GET", "state")["counts"] == before


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_number_is_a_400(st: StSandbox, value: str) -> None:
    entry = _entry()
    entry["lines"][0]["quantity"] = "QTY"
    item = {**new_po()["items"][0], "cost": "COST"}
    headers = {"Content-Type": "application/json"}

    def raw(body: dict[str, Any], slot: str) -> bytes:
        """JSON with a literal NaN or Infinity, which httpx itself refuses to send."""
        return json.dumps(body).replace(f'"{slot}"', value).encode()

    line = st.call(
        "POST", "accounting", "journal-entries", content=raw(entry, "QTY"), headers=headers
    )
    po = st.call(
        "POST",
        "inventory",
        "purchase-orders",
        content=raw(new_po(items=[item]), "COST"),
        headers=headers,
    )

    _assert_bad_request(line, "lines[0].quantity")
    _assert_bad_request(po, "items[0].cost")


def test_a_journal_amount_finer_than_cents_is_a_400(st: StSandbox) -> None:
    entry = _entry()
    entry["lines"][0]["debit"] = entry["lines"][1]["credit"] = 10.005

    _assert_bad_request(
        st.call("POST", "accounting", "journal-entries", json=entry), "lines[0].debit"
    )


BEYOND_DECIMAL = 1e30
"""Larger than any .NET decimal (about 7.9e28), which ServiceTitan's amounts are."""


@pytest.mark.parametrize(("line", "side"), [(0, "debit"), (1, "credit")])
def test_a_journal_amount_beyond_a_decimal_is_a_400(st: StSandbox, line: int, side: str) -> None:
    entry = _entry()
    entry["lines"][0]["debit"] = entry["lines"][1]["credit"] = 10.0
    entry["lines"][line][side] = BEYOND_DECIMAL

    _assert_bad_request(
        st.call("POST", "accounting", "journal-entries", json=entry), f"lines[{line}].{side}"
    )


def test_a_large_journal_amount_a_decimal_holds_is_taken_and_read_back(st: StSandbox) -> None:
    """1e26 with its cents has 29 digits, more than Python's default 28."""
    entry = _entry(name="large entry")
    entry["lines"][0]["debit"] = entry["lines"][1]["credit"] = 1e26

    st.ok("POST", "accounting", "journal-entries", json=entry)

    listed = st.ok("GET", "accounting", "journal-entries", params={"pageSize": 500})["data"]
    [found] = [e for e in listed if e["name"] == "large entry"]
    details = st.ok("GET", "accounting", f"journal-entries/{found['id']}/details")["data"]
    assert sorted(d["debit"] + d["credit"] for d in details) == [1e26, 1e26]


def test_journal_debits_summing_beyond_a_decimal_are_a_400(st: StSandbox) -> None:
    line = {"accountId": 130, "debit": 5e28, "credit": 0, "businessUnitId": 501}
    other = {"accountId": 200, "debit": 0, "credit": 5e28, "businessUnitId": 501}
    entry = _entry(lines=[line, line, other, other])

    _assert_bad_request(st.call("POST", "accounting", "journal-entries", json=entry), "lines")


@pytest.mark.parametrize(
    ("field", "where"),
    [("quantity", "items[0].quantity"), ("cost", "items[0].cost"), ("tax", "tax"),
     ("shipping", "shipping")],
)  # fmt: skip
def test_a_po_amount_beyond_a_decimal_is_a_400(st: StSandbox, field: str, where: str) -> None:
    body = new_po()
    if field in ("tax", "shipping"):
        body[field] = BEYOND_DECIMAL
    else:
        body["items"][0][field] = BEYOND_DECIMAL
    created = st.ok("POST", "inventory", "purchase-orders", json=new_po())

    _assert_bad_request(st.call("POST", "inventory", "purchase-orders", json=body), where)
    patch = {k: body[k] for k in ("items", "tax", "shipping")}
    response = st.call("PATCH", "inventory", f"purchase-orders/{created['id']}", json=patch)
    _assert_bad_request(response, where)


def test_a_po_whose_total_is_beyond_a_decimal_is_a_400_and_bills_stay_readable(
    st: StSandbox,
) -> None:
    """Each amount fits, their product does not: the PO is refused, so no inventory
    bill of it can make the bill lists unreadable once it is received."""
    item = {**new_po()["items"][0], "quantity": 1e15, "cost": 1e15}
    created = st.ok("POST", "inventory", "purchase-orders", json=new_po())

    _assert_bad_request(
        st.call("POST", "inventory", "purchase-orders", json=new_po(items=[item])), "items[0]"
    )
    near = {**item, "quantity": 1, "cost": 7e28}
    response = st.call(
        "PATCH", "inventory", f"purchase-orders/{created['id']}", json={"items": [near, near]}
    )
    _assert_bad_request(response, "total")

    st.control("POST", f"purchase-orders/{created['id']}/status", {"status": "Received"})
    assert st.get("accounting", "inventory-bills").status_code == 200
    assert st.get("inventory", "purchase-orders").status_code == 200


@pytest.mark.parametrize("value", ["NaN", "sNaN", "Infinity", "1e40"])
def test_an_amount_filter_that_is_no_decimal_is_a_400(st: StSandbox, value: str) -> None:
    _assert_bad_request(st.get("accounting", "invoices", totalGreater=value), "totalGreater")
    _assert_bad_request(st.get("accounting", "inventory-bills", maxCost=value), "maxCost")


@pytest.mark.parametrize("price", [BEYOND_DECIMAL, "a lot"])
def test_a_sandbox_invoice_priced_beyond_a_decimal_is_a_400_and_changes_nothing(
    st: StSandbox, price: Any
) -> None:
    before = st.control("GET", "state")["counts"]

    response = st.client.post(
        "/_sandbox/invoices", json={"items": [{"skuId": 55501, "price": price}]}
    )

    _assert_bad_request(response, "items[0].price")
    assert st.control("GET", "state")["counts"] == before
    assert st.get("accounting", "invoices").status_code == 200
