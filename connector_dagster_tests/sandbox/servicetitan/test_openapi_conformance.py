"""OpenAPI conformance of the ServiceTitan simulator against ServiceTitan's own
specs (`openapi/*-v2.json` beside this file, OpenAPI 3.0).

Every API route the simulator serves has a case (`openapi_cases_*.py`) that makes
real requests over HTTP; openapi-core validates each response (status, content
type, body) against the spec's schema for that path, method and status, and each
request the simulator accepted (path, query, headers, body). A served route
without a case fails `test_every_served_route_has_a_conformance_case`. Webhook
envelopes are validated against the specs' `CloudEvent_Of_*` schemas."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from openapi_core import Config, OpenAPI
from openapi_core.validation.response.exceptions import InvalidData
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from connector_dagster.sandbox.servicetitan.app import served_routes
from connector_dagster_tests.sandbox.servicetitan import (
    openapi_cases_accounting,
    openapi_cases_journal,
    openapi_cases_operations,
)
from connector_dagster_tests.sandbox.servicetitan.openapi_harness import (
    Checked,
    SpecRequest,
    SpecResponse,
    load_spec,
    present_modules,
)
from connector_dagster_tests.sandbox.servicetitan.support import StSandbox, receiver, st_sandbox

CASES = {
    **openapi_cases_operations.CASES,
    **openapi_cases_accounting.CASES,
    **openapi_cases_journal.CASES,
}


@pytest.fixture(scope="module")
def st() -> Iterator[StSandbox]:
    with st_sandbox(st_page_size_max=20, webhook_time_scale=0.001) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def specs(st: StSandbox) -> dict[str, OpenAPI]:
    loaded = {}
    for module in present_modules():
        spec = load_spec(module)
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


UNSPECIFIED = ("pricebook",)
"""Modules the simulator serves without ServiceTitan's spec at hand (`openapi/` has
none): their routes are tested by their own tests (`test_pricebook.py`)."""


def test_every_served_route_has_a_conformance_case() -> None:
    specified = [(m, p) for m, p in served_routes() if p.split("/")[1] not in UNSPECIFIED]
    assert sorted(specified) == sorted(CASES)


@pytest.mark.parametrize("module", present_modules())
def test_every_served_route_is_in_the_spec(module: str) -> None:
    paths = load_spec(module)["paths"]
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
        specs["inventory"].validate_response(SpecRequest(response.request), SpecResponse(broken))


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
        "components": load_spec(module)["components"],
        "$ref": f"#/components/schemas/CloudEvent_Of_{payload}",
    }
    validator = OAS30Validator(root, format_checker=oas30_format_checker)
    errors = [e.message for e in validator.iter_errors(json.loads(delivery["body"]))]
    assert errors == []
