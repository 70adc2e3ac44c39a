"""OpenAPI conformance of the ServiceTitan simulator against ServiceTitan's own
specs (`servicetitan_openapi/*-v2.json` beside this file, OpenAPI 3.0).

Every API route the simulator serves has a case below that makes real requests
over HTTP; openapi-core validates each response (status, content type, body)
against the spec's schema for that path, method and status, and each request
the simulator accepted (path, query, headers, body). A served route without a
case fails `test_every_served_route_has_a_conformance_case`. Webhook envelopes
are validated against the specs' `CloudEvent_Of_*` schemas.

The specs write nullable references as `nullable: true` beside `oneOf`, which
OAS 3.0.3 strictly ignores; ServiceTitan sends nulls there, so the test reads
such a schema as "null, or the composition"."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.validation.response.exceptions import InvalidData
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from werkzeug.datastructures import Headers, ImmutableMultiDict

from connector_dagster.sandbox.servicetitan.app import served_routes
from connector_dagster_tests.sandbox.servicetitan_support import (
    StSandbox,
    new_po,
    receiver,
    st_sandbox,
)

SPEC_DIR = Path(
    os.environ.get("CONNECTOR_ST_OPENAPI_DIR")
    or Path(__file__).resolve().parent / "servicetitan_openapi"
)
MODULES = ("inventory", "accounting", "jpm", "settings")
PREFIX = "/{module}/v2/tenant/{tenant}/"


def _load(module: str) -> dict[str, Any]:
    path = SPEC_DIR / f"{module}-v2.json"
    if not path.exists():
        pytest.fail(f"ServiceTitan spec {path} is missing; set CONNECTOR_ST_OPENAPI_DIR")
    return _nullable_compositions(json.loads(path.read_text(encoding="utf-8")))


def _nullable_compositions(node: Any) -> Any:
    if isinstance(node, list):
        return [_nullable_compositions(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable_compositions(v) for k, v in node.items()}
    if out.get("nullable") is True and {"oneOf", "anyOf", "allOf"} & out.keys():
        inner = {k: v for k, v in out.items() if k != "nullable"}
        return {"anyOf": [inner, {"type": "object", "nullable": True, "enum": [None]}]}
    return out


class _Request:
    """An httpx request as openapi-core's `Request` protocol."""

    def __init__(self, request: httpx.Request) -> None:
        url = urlsplit(str(request.url))
        self.host_url = f"{url.scheme}://{url.netloc}"
        self.path = url.path
        self.method = request.method.lower()
        self.body = request.content or None
        self.content_type = request.headers.get("content-type", "")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qs(url.query, keep_blank_values=True)),
            header=Headers(dict(request.headers)),
            cookie=ImmutableMultiDict(),
        )


class _Response:
    """An httpx response as openapi-core's `Response` protocol."""

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.headers = Headers(dict(response.headers))
        self.data = response.content
        self.content_type = response.headers.get("content-type", "")


class Checked:
    """Calls the simulator and validates every exchange against the spec."""

    def __init__(self, st: StSandbox, specs: dict[str, OpenAPI]) -> None:
        self.st = st
        self.specs = specs
        self.exchanges: list[tuple[str, int]] = []

    def __call__(
        self, method: str, module: str, rest: str, expect: int = 200, **kwargs: Any
    ) -> Any:
        response = self.st.call(method, module, rest, **kwargs)
        assert response.status_code == expect, response.text
        spec = self.specs[module]
        if response.status_code < 300:
            spec.validate_request(_Request(response.request))
        spec.validate_response(_Request(response.request), _Response(response))
        self.exchanges.append((f"{method} {module}/{rest}", response.status_code))
        return response.json() if response.content else None


Case = Callable[[Checked], None]
CASES: dict[tuple[str, str], Case] = {}


def case(method: str, module: str, template: str) -> Callable[[Case], Case]:
    def register(fn: Case) -> Case:
        CASES[(method, PREFIX.format(module=module, tenant="{tenant}") + template)] = fn
        return fn

    return register


# --- inventory ---


@case("GET", "inventory", "purchase-orders")
def _list_pos(call: Checked) -> None:
    call(
        "GET",
        "inventory",
        "purchase-orders",
        params={"status": "Received", "includeTotal": "true", "sort": "-ModifiedOn"},
    )
    call("GET", "inventory", "purchase-orders", params={"dateOnOrAfter": "2026-01-01T00:00:00Z"})
    call(
        "GET",
        "inventory",
        "purchase-orders",
        expect=400,
        params={"ids": ",".join(str(i) for i in range(51))},
    )


@case("POST", "inventory", "purchase-orders")
def _create_po(call: Checked) -> None:
    call("POST", "inventory", "purchase-orders", json=new_po())
    call("POST", "inventory", "purchase-orders", json=new_po(vendorId=1), expect=400)


@case("GET", "inventory", "purchase-orders/{id}")
def _get_po(call: Checked) -> None:
    call("GET", "inventory", "purchase-orders/9000001")
    call("GET", "inventory", "purchase-orders/1", expect=404)


@case("PATCH", "inventory", "purchase-orders/{id}")
def _update_po(call: Checked) -> None:
    created = call("POST", "inventory", "purchase-orders", json=new_po())
    po = call("GET", "inventory", f"purchase-orders/{created['id']}")
    keep = {
        k: po["items"][0][k]
        for k in ("id", "skuId", "description", "vendorPartNumber", "quantity", "cost")
    }
    added = {
        "id": 0,
        "skuId": 55508,
        "description": "Capacitor",
        "vendorPartNumber": "C-1",
        "quantity": 1,
        "cost": 18.4,
    }
    call(
        "PATCH",
        "inventory",
        f"purchase-orders/{po['id']}",
        json={"memo": "rev 2", "requiredOn": "2026-03-09T00:00:00Z", "items": [keep, added]},
    )
    received = next(
        p
        for p in call("GET", "inventory", "purchase-orders", params={"status": "Received"})["data"]
    )
    call("PATCH", "inventory", f"purchase-orders/{received['id']}", json={"memo": "x"}, expect=400)
    call("PATCH", "inventory", "purchase-orders/1", json={"memo": "x"}, expect=404)


@case("PATCH", "inventory", "purchase-orders/{id}/cancellation")
def _cancel_po(call: Checked) -> None:
    created = call("POST", "inventory", "purchase-orders", json=new_po())
    call(
        "PATCH",
        "inventory",
        f"purchase-orders/{created['id']}/cancellation",
        json={"canceledReason": "VendorIssue"},
    )
    call("PATCH", "inventory", "purchase-orders/1/cancellation", json={}, expect=404)


@case("GET", "inventory", "export/purchase-orders")
def _export_pos(call: Checked) -> None:
    feed = call("GET", "inventory", "export/purchase-orders", params={"from": "2026-12-01"})
    call(
        "GET",
        "inventory",
        "export/purchase-orders",
        params={"from": feed["continueFrom"], "includeRecentChanges": "true"},
    )


@case("GET", "inventory", "vendors")
def _vendors(call: Checked) -> None:
    call("GET", "inventory", "vendors", params=[("active", "Any"), ("ids", 3101), ("ids", 3120)])


@case("GET", "inventory", "vendors/{id}")
def _vendor(call: Checked) -> None:
    call("GET", "inventory", "vendors/3120")
    call("GET", "inventory", "vendors/1", expect=404)


@case("GET", "inventory", "purchase-order-types")
def _po_types(call: Checked) -> None:
    call("GET", "inventory", "purchase-order-types", params={"active": "Any"})


@case("GET", "inventory", "warehouses")
def _warehouses(call: Checked) -> None:
    call("GET", "inventory", "warehouses", params={"includeTotal": "true"})


# --- accounting: reference lists and invoices ---


@case("GET", "accounting", "tax-zones")
def _tax_zones(call: Checked) -> None:
    call("GET", "accounting", "tax-zones", params={"ids": "14,15"})


@case("GET", "accounting", "gl-accounts")
def _gl_accounts(call: Checked) -> None:
    call("GET", "accounting", "gl-accounts", params={"types": "Income", "active": "Any"})


@case("GET", "accounting", "gl-accounts/{accountId}")
def _gl_account(call: Checked) -> None:
    call("GET", "accounting", "gl-accounts/401")
    call("GET", "accounting", "gl-accounts/1", expect=404)


@case("GET", "accounting", "invoices")
def _invoices(call: Checked) -> None:
    call(
        "GET",
        "accounting",
        "invoices",
        params=[
            ("statuses", "Posted"),
            ("statuses", "Pending"),
            ("activeState", "All"),
            ("includeTotal", "true"),
        ],
    )
    adjustments = {"invoicedOnOrAfter": "2025-11-01T00:00:00Z", "adjustmentToId": 77000001}
    call("GET", "accounting", "invoices", params=adjustments)
    call("GET", "accounting", "invoices", params={"statuses": "Lost"}, expect=400)


@case("POST", "accounting", "invoices/markasexported")
def _mark_invoices(call: Checked) -> None:
    call(
        "POST",
        "accounting",
        "invoices/markasexported",
        json=[
            {"invoiceId": 77000001, "externalId": "ACME01-1", "externalMessage": "ok"},
            {"invoiceId": 1, "externalId": None, "externalMessage": None},
        ],
    )
    call("POST", "accounting", "invoices/markasexported", json={"invoiceId": 1}, expect=400)


@case("GET", "accounting", "export/invoices")
def _export_invoices(call: Checked) -> None:
    feed = call("GET", "accounting", "export/invoices", params={"from": "2026-12-20"})
    call("GET", "accounting", "export/invoices", params={"from": feed["continueFrom"]})


@case("GET", "accounting", "export/invoice-items")
def _export_invoice_items(call: Checked) -> None:
    call("GET", "accounting", "export/invoice-items", params={"from": "2026-12-20"})


# --- accounting: bills ---


@case("GET", "accounting", "inventory-bills")
def _inventory_bills(call: Checked) -> None:
    call("GET", "accounting", "inventory-bills", params={"businessUnitIds": "501,502"})


@case("GET", "accounting", "inventory-bills/paginated")
def _inventory_bills_paginated(call: Checked) -> None:
    call(
        "GET",
        "accounting",
        "inventory-bills/paginated",
        params={"includeTotal": "true", "syncStatuses": "Posted", "minCost": 10},
    )


@case("POST", "accounting", "inventory-bills/markasexported")
def _mark_inventory_bills(call: Checked) -> None:
    call(
        "POST",
        "accounting",
        "inventory-bills/markasexported",
        json={"inventoryBillIds": [66000001, 1]},
    )
    call("POST", "accounting", "inventory-bills/markasexported", json={}, expect=400)


@case("GET", "accounting", "export/inventory-bills")
def _export_inventory_bills(call: Checked) -> None:
    call("GET", "accounting", "export/inventory-bills", params={"from": "2026-12-01"})


@case("GET", "accounting", "ap-bills")
def _ap_bills(call: Checked) -> None:
    call("GET", "accounting", "ap-bills")
    call("GET", "accounting", "ap-bills", params={"billType": "ApBill", "statuses": "Reconciled"})


@case("GET", "accounting", "ap-bills/{billId}")
def _ap_bill(call: Checked) -> None:
    call("GET", "accounting", "ap-bills/66000001")
    call("GET", "accounting", "ap-bills/66000301")
    call("GET", "accounting", "ap-bills/1", expect=404)


@case("POST", "accounting", "ap-bills/markasexported")
def _mark_ap_bills(call: Checked) -> None:
    call("POST", "accounting", "ap-bills/markasexported", json={"billIds": [66000301, 2]})


# --- accounting: journal entries ---

JE_LINES = [
    {
        "accountId": 610,
        "debit": 80.0,
        "credit": 0,
        "businessUnitId": 502,
        "vendorId": 3102,
        "memo": "Fleet",
        "externalObjects": [
            {"id": "ACME01-PP-1-1", "type": "IfsPostingProposal", "name": "1/1", "url": None}
        ],
    },
    {"accountId": 200, "debit": 0, "credit": 80.0, "businessUnitId": 502, "vendorId": 3102},
]


def _external_je(call: Checked, name: str) -> dict[str, Any]:
    body = {
        "name": name,
        "status": "Open",
        "versionId": 1,
        "postDate": "2026-04-30",
        "customFields": {"Source": "IFS"},
        "lines": JE_LINES,
    }
    call("POST", "accounting", "journal-entries", json=body)
    return call("GET", "accounting", "journal-entries", params={"name": name})["data"][0]


@case("GET", "accounting", "journal-entries")
def _list_jes(call: Checked) -> None:
    call(
        "GET",
        "accounting",
        "journal-entries",
        params=[("statuses", "Closed"), ("syncStatuses", "Synced"), ("sort", "-Number")],
    )
    call("GET", "accounting", "journal-entries", params={"ids": "nope"}, expect=400)


@case("POST", "accounting", "journal-entries")
def _create_je(call: Checked) -> None:
    _external_je(call, "conformance create")
    unbalanced = {"status": "Open", "versionId": 1, "lines": JE_LINES[:1]}
    call("POST", "accounting", "journal-entries", json=unbalanced, expect=400)


@case("GET", "accounting", "journal-entries/{id}")
def _get_je(call: Checked) -> None:
    entry = _external_je(call, "conformance get")
    call("GET", "accounting", f"journal-entries/{entry['id']}")
    call("GET", "accounting", "journal-entries/00000000-0000-4000-8000-000000000000", expect=400)


@case("PUT", "accounting", "journal-entries/{id}")
def _replace_je(call: Checked) -> None:
    entry = _external_je(call, "conformance put")
    body = {"name": "conformance put", "status": "Open", "versionId": 1, "lines": JE_LINES}
    call("PUT", "accounting", f"journal-entries/{entry['id']}", json=body)
    call("PUT", "accounting", f"journal-entries/{entry['id']}", json=body, expect=400)


@case("PATCH", "accounting", "journal-entries/{id}")
def _update_je(call: Checked) -> None:
    entry = _external_je(call, "conformance patch")
    call(
        "PATCH",
        "accounting",
        f"journal-entries/{entry['id']}",
        json={"status": "Closed", "customFields": {"Batch": None}},
    )


@case("DELETE", "accounting", "journal-entries/{id}")
def _delete_je(call: Checked) -> None:
    entry = _external_je(call, "conformance delete")
    call("DELETE", "accounting", f"journal-entries/{entry['id']}")
    native = call("GET", "accounting", "journal-entries", params={"pageSize": 1})["data"][0]
    call("DELETE", "accounting", f"journal-entries/{native['id']}", expect=400)


@case("PATCH", "accounting", "journal-entries/{id}/sync")
def _sync_je(call: Checked) -> None:
    entry = _external_je(call, "conformance sync")
    url = f"journal-entries/{entry['id']}/sync"
    call("PATCH", "accounting", url, json={"syncStatus": "Synced", "versionId": 1, "message": "ok"})
    call("PATCH", "accounting", url, json={"syncStatus": "Synced", "versionId": 9}, expect=400)


@case("GET", "accounting", "journal-entries/{id}/summary")
def _je_summary(call: Checked) -> None:
    native = call("GET", "accounting", "journal-entries", params={"pageSize": 1})["data"][0]
    call("GET", "accounting", f"journal-entries/{native['id']}/summary", params={"pageSize": 5})


@case("GET", "accounting", "journal-entries/{id}/details")
def _je_details(call: Checked) -> None:
    entry = _external_je(call, "conformance details")
    call("GET", "accounting", f"journal-entries/{entry['id']}/details")


# --- jpm and settings ---


@case("GET", "jpm", "jobs")
def _jobs(call: Checked) -> None:
    call("GET", "jpm", "jobs", params={"jobStatus": "Completed", "sort": "+Priority"})


@case("GET", "jpm", "jobs/{id}")
def _job(call: Checked) -> None:
    call("GET", "jpm", "jobs/88000001")
    call("GET", "jpm", "jobs/1", expect=404)


@case("GET", "jpm", "export/jobs")
def _export_jobs(call: Checked) -> None:
    call("GET", "jpm", "export/jobs", params={"from": "2026-12-20"})


@case("GET", "settings", "business-units")
def _business_units(call: Checked) -> None:
    call("GET", "settings", "business-units", params={"active": "Any", "name": "e"})


@case("GET", "settings", "business-units/{id}")
def _business_unit(call: Checked) -> None:
    call("GET", "settings", "business-units/509")
    call("GET", "settings", "business-units/1", expect=404)


@case("GET", "settings", "export/business-units")
def _export_business_units(call: Checked) -> None:
    call("GET", "settings", "export/business-units")


# --- the tests ---


@pytest.fixture(scope="module")
def st() -> Iterator[StSandbox]:
    with st_sandbox(st_page_size_max=20, webhook_time_scale=0.001) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def specs(st: StSandbox) -> dict[str, OpenAPI]:
    loaded = {}
    for module in MODULES:
        spec = _load(module)
        spec["servers"] = [{"url": f"{st.base_url}/{module}/v2"}]
        loaded[module] = OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))
    return loaded


@pytest.mark.parametrize(
    ("method", "path"), sorted(CASES), ids=[f"{m} {p}" for m, p in sorted(CASES)]
)
def test_route_conforms_to_the_spec(
    st: StSandbox, specs: dict[str, OpenAPI], method: str, path: str
) -> None:
    call = Checked(st, specs)

    CASES[(method, path)](call)

    assert any(status < 300 for _, status in call.exchanges)


def test_every_served_route_has_a_conformance_case() -> None:
    assert sorted(served_routes()) == sorted(CASES)


@pytest.mark.parametrize("module", MODULES)
def test_every_served_route_is_in_the_spec(module: str) -> None:
    paths = _load(module)["paths"]
    prefix = f"/{module}/v2"

    for method, path in served_routes():
        if path.startswith(prefix + "/"):
            assert method.lower() in paths.get(path.removeprefix(prefix), {}), (method, path)


def test_the_validator_catches_a_non_conforming_body(
    st: StSandbox, specs: dict[str, OpenAPI]
) -> None:
    response = st.call("GET", "inventory", "purchase-orders/9000001")
    body = response.json()
    del body["summary"]
    body["total"] = "61.00"
    broken = httpx.Response(200, json=body, request=response.request)

    with pytest.raises(InvalidData):
        specs["inventory"].validate_response(_Request(response.request), _Response(broken))


WEBHOOK_SCHEMAS = {
    "tn.acc.invoice-posted": ("accounting", "Accounting.V2.Webhook.InvoicePostedEventPayload"),
    "tn.acc.invoice-exported": ("accounting", "Accounting.V2.Webhook.InvoiceExportedEventPayload"),
    "tn.acc.invoice-updated": ("accounting", "Accounting.V2.Webhook.InvoiceUpdatedEventPayload"),
    "tn.acc.invoice-batched": ("accounting", "Accounting.V2.Webhook.InvoiceBatchedEventPayload"),
    "tn.jpm.job-completed": ("jpm", "Jpm.V2.Webhook.JobCompletedWebhookEvent"),
    "tn.jpm.job-updated": ("jpm", "Jpm.V2.Webhook.JobUpdatedWebhookEvent"),
    "tn.jpm.job-scheduled": ("jpm", "Jpm.V2.Webhook.JobScheduledWebhookEvent"),
    "tn.jpm.job-rescheduled": ("jpm", "Jpm.V2.Webhook.JobRescheduledWebhookEvent"),
    "tn.jpm.job-appointment-updated": ("jpm", "Jpm.V2.Webhook.JobAppointmentUpdatedWebhookEvent"),
}


@pytest.mark.parametrize("event_type", sorted(WEBHOOK_SCHEMAS))
def test_webhook_envelope_conforms_to_its_cloud_event_schema(
    st: StSandbox, event_type: str
) -> None:
    module, payload = WEBHOOK_SCHEMAS[event_type]
    target = {"invoiceId": 77000005} if module == "accounting" else {"jobId": 88000005}
    with receiver() as hook:
        emitted = st.client.post(
            "/_sandbox/webhooks/emit", json={"type": event_type, "url": hook.url, **target}
        )
        [delivery] = hook.wait_for(1)

    assert emitted.status_code == 202
    root = {
        "components": _load(module)["components"],
        "$ref": f"#/components/schemas/CloudEvent_Of_{payload}",
    }
    validator = OAS30Validator(root, format_checker=oas30_format_checker)
    errors = [e.message for e in validator.iter_errors(json.loads(delivery["body"]))]
    assert errors == []
