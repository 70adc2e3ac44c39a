"""ServiceTitan simulator webhooks: CloudEvents envelopes, HMAC-SHA256 over the
raw body (hex or base64), background delivery, redelivery with a new `id` and
the same `userassignedid`, an occurrence named and delivered again on request,
and the deliveries log — against a real receiver."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time

import pytest

from connector_dagster_tests.sandbox.servicetitan.support import (
    StSandbox,
    receiver,
    st_sandbox,
    wait_until,
)

FAST = {"webhook_time_scale": 0.001}  # 10/30/60/300 s become 10/30/60/300 ms


def _signature(st: StSandbox, body: bytes) -> bytes:
    return hmac.new(st.config.webhook_key.encode(), body, hashlib.sha256).digest()


def _emit(st: StSandbox, **body: object) -> dict:
    response = st.client.post("/_sandbox/webhooks/emit", json=body)
    assert response.status_code == 202, response.text
    return response.json()


def test_invoice_event_is_a_signed_cloudevent_with_the_invoice_header() -> None:
    with receiver() as hook, st_sandbox(webhook_url=None, **FAST) as st:
        emitted = _emit(st, type="tn.acc.invoice-posted", invoiceId=77000001, url=hook.url)
        [delivery] = hook.wait_for(1)

    raw = delivery["body"]
    signature = delivery["headers"][st.config.webhook_signature_header.lower()]
    assert hmac.compare_digest(signature, _signature(st, raw).hex())
    event = json.loads(raw)
    assert set(event) == {
        "specversion",
        "id",
        "type",
        "time",
        "source",
        "userassignedid",
        "datacontenttype",
        "data",
    }
    assert (event["specversion"], event["type"], event["source"]) == (
        "1.0",
        "tn.acc.invoice-posted",
        "https://webhooks.servicetitan.io",
    )
    assert event["userassignedid"] == emitted["userassignedid"]
    assert event["datacontenttype"] == "application/json"
    data = event["data"]
    assert (data["tenantId"], data["tenantName"]) == (1234567, "Acme Mechanical")
    assert data["invoice"]["id"] == 77000001
    assert "items" not in data["invoice"] and "customFields" not in data["invoice"]
    assert delivery["headers"]["content-type"] == "application/json"


def test_signature_can_be_base64_in_a_configured_header() -> None:
    config = {"webhook_signature_encoding": "base64", "webhook_signature_header": "X-Sig", **FAST}
    with receiver() as hook, st_sandbox(webhook_url=None, **config) as st:
        st.config.webhook_url = hook.url
        _emit(st, type="tn.jpm.job-completed", jobId=88000001)
        [delivery] = hook.wait_for(1)

    expected = base64.b64encode(_signature(st, delivery["body"])).decode()
    assert delivery["headers"]["x-sig"] == expected
    data = json.loads(delivery["body"])["data"]
    assert data["job"]["id"] == 88000001
    assert "summary" not in data["job"] and data["manageEmployeeEmail"] is False


def test_failed_deliveries_are_redelivered_with_a_new_id_and_the_same_userassignedid() -> None:
    with receiver(statuses=[500, 503]) as hook, st_sandbox(**FAST) as st:
        emitted = _emit(st, type="tn.acc.invoice-exported", invoiceId=77000002, url=hook.url)
        deliveries = hook.wait_for(3)
        log = wait_until(
            lambda: (
                len(st.control("GET", "webhooks/deliveries")) == 3
                and st.control(
                    "GET", f"webhooks/deliveries?userassignedid={emitted['userassignedid']}"
                )
            )
        )

    events = [json.loads(d["body"]) for d in deliveries]
    assert len({e["id"] for e in events}) == 3
    assert {e["userassignedid"] for e in events} == {emitted["userassignedid"]}
    assert len({e["time"] for e in events}) == 1  # the occurrence's time
    assert [(r["attempt"], r["status"], r["delivered"]) for r in log] == [
        (1, 500, False),
        (2, 503, False),
        (3, 200, True),
    ]
    assert [r["willRetry"] for r in log] == [True, True, False]


def test_an_unreachable_receiver_is_retried_after_each_delay_then_given_up() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here
    url = f"http://127.0.0.1:{port}/hook"
    with st_sandbox(webhook_retry_delays_s=(10, 30), **FAST) as st:
        _emit(st, type="tn.jpm.job-rescheduled", jobId=88000003, url=url)
        log = wait_until(
            lambda: (
                len(st.control("GET", "webhooks/deliveries")) == 3
                and st.control("GET", "webhooks/deliveries")
            )
        )

    assert [r["attempt"] for r in log] == [1, 2, 3]
    assert all(r["status"] is None and "ConnectError" in r["error"] for r in log)
    assert [r["willRetry"] for r in log] == [True, True, False]
    assert log[0]["event"]["data"]["appointmentId"] == 99000003


def test_emit_returns_before_a_slow_receiver_answers() -> None:
    with receiver(delay_s=1.0) as hook, st_sandbox(**FAST) as st:
        started = time.perf_counter()
        _emit(st, type="tn.acc.invoice-updated", invoiceId=77000003, url=hook.url)
        elapsed = time.perf_counter() - started
        hook.wait_for(1)

    assert elapsed < 0.5


@pytest.mark.parametrize(
    "body",
    [
        {"type": "tn.acc.invoice-deleted", "invoiceId": 77000001},
        {"type": "tn.acc.invoice-posted", "invoiceId": 1},
        {"type": "tn.jpm.job-completed", "jobId": 1},
        {"type": "tn.acc.invoice-posted", "invoiceId": 77000001},  # no URL anywhere
        {"type": "tn.acc.invoice-posted", "invoiceId": 77000001, "url": "ftp://x"},
        {"type": "tn.acc.invoice-posted", "invoiceId": 77000001, "userassignedid": 7},
        {"type": "tn.acc.invoice-posted", "invoiceId": 77000001, "userassignedid": " "},
        {"type": "tn.acc.invoice-posted", "invoiceId": 77000001, "signatureEncoding": "hex2"},
        {"type": "tn.acc.invoice-posted", "invoiceId": 77000001, "signatureHeader": "X Sig"},
    ],
)
def test_bad_emit_requests_are_400(body: dict) -> None:
    with st_sandbox() as st:
        response = st.client.post("/_sandbox/webhooks/emit", json=body)

    assert response.status_code == 400


def test_an_occurrence_named_again_is_redelivered_with_a_new_id_and_its_first_payload() -> None:
    with receiver() as hook, st_sandbox(**FAST) as st:
        first = _emit(
            st,
            type="tn.acc.invoice-posted",
            invoiceId=77000004,
            url=hook.url,
            userassignedid="occ-77000004-posted",
        )
        hook.wait_for(1)
        changed = st.control("POST", "invoices", {"id": 77000004, "reviewStatus": "OnHold"})
        again = _emit(st, userassignedid="occ-77000004-posted", url=hook.url)
        [one, two] = hook.wait_for(2)
        wrong_type = st.client.post(
            "/_sandbox/webhooks/emit",
            json={"type": "tn.jpm.job-completed", "userassignedid": "occ-77000004-posted"},
        )

    events = [json.loads(d["body"]) for d in (one, two)]
    assert first["userassignedid"] == again["userassignedid"] == "occ-77000004-posted"
    assert {e["userassignedid"] for e in events} == {"occ-77000004-posted"}
    assert events[0]["id"] != events[1]["id"]
    assert (events[0]["time"], events[0]["data"]) == (events[1]["time"], events[1]["data"])
    assert first["time"] == again["time"]
    assert events[1]["data"]["invoice"]["modifiedOn"] != changed["modifiedOn"]
    assert wrong_type.status_code == 400 and "type" in wrong_type.json()["errors"]


def test_one_emit_can_sign_in_the_other_encoding_and_header() -> None:
    with receiver() as hook, st_sandbox(**FAST) as st:
        _emit(
            st,
            type="tn.acc.invoice-updated",
            invoiceId=77000001,
            url=hook.url,
            signatureEncoding="base64",
            signatureHeader="X-Other-Signature",
        )
        [delivery] = hook.wait_for(1)

    expected = base64.b64encode(_signature(st, delivery["body"])).decode()
    assert delivery["headers"]["x-other-signature"] == expected
    assert st.config.webhook_signature_header.lower() not in delivery["headers"]
