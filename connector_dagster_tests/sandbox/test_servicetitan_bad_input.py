"""ServiceTitan simulator, bad input: a 400 with ServiceTitan's `ApiErrorResponse`
body naming the offending field, never a 500 — over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connector_dagster_tests.sandbox.servicetitan_support import StSandbox, new_po, st_sandbox

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
