"""The webhook receiver over real HTTP, the ServiceTitan simulator delivering and a
real PostgreSQL behind: what is stored once, what is refused with which status, and
what the logs never hold."""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import hmac
import json
import logging
import os
from contextlib import closing

import httpx
import pytest

from connector_dagster.lib.store import Store
from connector_dagster.sandbox.servicetitan.webhooks import sign
from connector_dagster_tests.webhooks.support import (
    answered,
    emit,
    envelope,
    health_of,
    inbox_rows,
    post,
    receiver,
    wait_until,
)

pytestmark = pytest.mark.usefixtures("sandbox_connection")


def _key(sandbox: dict) -> str:
    return sandbox["servicetitan"]["webhook_key"]


def test_a_sandbox_event_delivered_twice_is_stored_once(sandbox_connection: dict) -> None:
    st = sandbox_connection["servicetitan"]["api_url"]
    with receiver() as url:
        emit(st, url, type="tn.acc.invoice-posted", invoiceId=77000001, userassignedid="occ-1")
        [first] = answered(st, "occ-1")
        emit(st, url, type="tn.acc.invoice-posted", userassignedid="occ-1")
        second = answered(st, "occ-1", 2)[1]

    assert (first["status"], second["status"]) == (200, 200)
    assert first["id"] != second["id"]
    [row] = inbox_rows()
    assert (row["occurrence_id"], row["event_type"], row["deliveries"]) == (
        "occ-1",
        "tn.acc.invoice-posted",
        2,
    )
    assert row["delivery_id"] == first["id"]
    assert row["body"]["data"]["invoice"]["id"] == 77000001
    status = health_of()
    assert (status.received, status.redelivered, status.pending) == (1, 1, 1)


def test_a_forged_event_is_refused_and_leaves_no_row(sandbox_connection: dict) -> None:
    with receiver() as url:
        forged = post(url, envelope("occ-forged"), key="f" * 48)
        wait_until(lambda: health_of().refused.get("signature_invalid") == 1)

    assert forged.status_code == 401
    assert inbox_rows() == []


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        (None, "signature_missing"),
        ("", "signature_missing"),
        ("not-a-signature", "signature_malformed"),
        ("ab" * 31, "signature_malformed"),
        ("zz" * 32, "signature_malformed"),
        (base64.b64encode(b"x" * 31).decode(), "signature_malformed"),
        ("00" * 32, "signature_invalid"),
    ],
)
def test_missing_and_malformed_signatures_are_401(signature: str | None, reason: str) -> None:
    body = json.dumps(envelope()).encode()
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-ST-Signature"] = signature
    with receiver() as url:
        response = httpx.post(url, content=body, headers=headers, timeout=10)
        wait_until(lambda: health_of().refused.get(reason) == 1)

    assert (response.status_code, response.json()) == (401, {"error": reason})
    assert inbox_rows() == []


def test_a_signature_in_base64_in_a_configured_header_is_accepted(
    sandbox_connection: dict,
) -> None:
    st = sandbox_connection["servicetitan"]["api_url"]
    with receiver(signature_header="X-Other-Signature") as url:
        emit(
            st,
            url,
            type="tn.jpm.job-completed",
            jobId=88000001,
            userassignedid="occ-b64",
            signatureHeader="X-Other-Signature",
            signatureEncoding="base64",
        )
        emit(st, url, type="tn.acc.invoice-posted", invoiceId=77000001, userassignedid="occ-hex")
        [b64] = answered(st, "occ-b64")
        [default_header] = answered(st, "occ-hex")

    assert b64["status"] == 200
    assert default_header["status"] == 401
    assert [r["occurrence_id"] for r in inbox_rows()] == ["occ-b64"]


def test_both_encodings_verify_and_unpadded_base64_too(sandbox_connection: dict) -> None:
    key = _key(sandbox_connection)
    body = json.dumps(envelope("occ-raw")).encode()
    digest = hmac.new(key.encode(), body, hashlib.sha256).digest()
    signatures = [digest.hex(), digest.hex().upper(), base64.b64encode(digest).decode()]
    signatures.append(signatures[-1].rstrip("="))
    with receiver() as url:
        statuses = [
            httpx.post(
                url,
                content=body,
                headers={"Content-Type": "application/json", "X-ST-Signature": s},
                timeout=10,
            ).status_code
            for s in signatures
        ]

    assert statuses == [200, 200, 200, 200]
    assert [r["deliveries"] for r in inbox_rows()] == [4]


def test_oversized_non_json_and_wrong_content_type_bodies_are_refused(
    sandbox_connection: dict,
) -> None:
    key = _key(sandbox_connection)
    big = envelope()
    big["data"]["invoice"]["summary"] = "x" * 3000
    with receiver(max_body_bytes=2048) as url:
        oversized = post(url, big, key)
        streamed = httpx.post(
            url,
            content=iter([b"{" + b" " * 1500, b" " * 1500 + b"}"]),
            headers={"Content-Type": "application/json", "X-ST-Signature": "00" * 32},
            timeout=10,
        )
        not_json = post(url, b"<xml>not json</xml>", key)
        nan = post(url, json.dumps(envelope()).replace('"273.13"', "NaN").encode(), key)
        text = post(url, envelope(), key, content_type="text/plain")
        latin1 = post(url, envelope(), key, content_type="application/json; charset=latin-1")
        cloudevents = post(url, envelope(), key, content_type="application/cloudevents+json")
        wait_until(lambda: sum(health_of().refused.values()) == 6)

    assert [r.status_code for r in (oversized, streamed, not_json, nan, text, latin1)] == [
        413,
        413,
        400,
        400,
        415,
        415,
    ]
    assert cloudevents.status_code == 200
    assert len(inbox_rows()) == 1
    assert health_of().refused == {"body_too_large": 2, "not_json": 2, "content_type": 2}


def test_an_unknown_tenant_or_event_type_is_refused_with_422(sandbox_connection: dict) -> None:
    key = _key(sandbox_connection)
    with receiver() as url:
        tenant = post(url, envelope(tenant=7654321), key)
        kind = post(url, envelope(kind="tn.crm.lead-created"), key)
        known = post(url, envelope(kind="tn.jpm.job-updated", tenant="1234567"), key)
        wait_until(lambda: len(health_of().refused) == 2)

    assert (tenant.status_code, kind.status_code, known.status_code) == (422, 422, 200)
    assert health_of().refused == {"tenant_unknown": 1, "event_type_unknown": 1}
    assert len(inbox_rows()) == 1


def test_an_event_type_can_be_added_per_connection(sandbox_connection: dict) -> None:
    key = _key(sandbox_connection)
    with receiver(event_types=["tn.acc.invoice-posted", "tn.acc.invoice-task-created"]) as url:
        added = post(url, envelope(kind="tn.acc.invoice-task-created"), key)
        dropped = post(url, envelope(kind="tn.jpm.job-completed"), key)

    assert (added.status_code, dropped.status_code) == (200, 422)


@pytest.mark.parametrize(
    "broken",
    [
        {"specversion": "0.3"},
        {"userassignedid": None},
        {"userassignedid": ""},
        {"userassignedid": "x" * 201},
        {"id": 42},
        {"source": None},
        {"data": None},
        {"data": {"invoice": {}}},
        {"data": {"invoice": {}, "tenantId": "12a"}},
        {"time": "yesterday"},
    ],
)
def test_a_malformed_envelope_is_refused_with_400(sandbox_connection: dict, broken: dict) -> None:
    body = {**envelope(), **broken}
    with receiver() as url:
        response = post(url, body, _key(sandbox_connection))

    assert (response.status_code, response.json()) == (400, {"error": "envelope_invalid"})
    assert inbox_rows() == []


@pytest.mark.parametrize("depth", [40, 5000])
def test_a_signed_deeply_nested_body_is_refused_with_400(
    sandbox_connection: dict, depth: int
) -> None:
    """Nesting far beyond an event's (3 or 4 levels) is refused, whether the JSON parser
    would take it (40) or give up (5000), never answered 500."""
    raw = json.dumps(envelope("occ-deep")).replace(
        '"Secret summary 9Q7"', "[" * depth + "]" * depth
    )
    with receiver() as url:
        response = post(url, raw.encode(), _key(sandbox_connection))
        wait_until(lambda: health_of().refused)

    assert (response.status_code, response.json()) == (400, {"error": "body_too_deep"})
    assert inbox_rows() == []
    assert health_of().refused == {"body_too_deep": 1}


def test_an_event_postgresql_cannot_store_fails_alone(sandbox_connection: dict) -> None:
    key = _key(sandbox_connection)
    bad = envelope("occ-nul")
    bad["data"]["invoice"]["summary"] = "nul \u0000 inside"
    with receiver() as url, httpx.Client(timeout=10) as client:

        def send(body: dict) -> int:
            raw = json.dumps(body).encode()
            headers = {"Content-Type": "application/json", "X-ST-Signature": sign(raw, key, "hex")}
            return client.post(url, content=raw, headers=headers).status_code

        bodies = [envelope(f"occ-{i}") for i in range(20)]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(send, [*bodies[:10], bad, *bodies[10:]]))

    assert statuses == [200] * 10 + [400] + [200] * 10
    assert sorted(r["occurrence_id"] for r in inbox_rows()) == sorted(f"occ-{i}" for i in range(20))


def test_an_unknown_connection_is_404(sandbox_connection: dict) -> None:
    with receiver() as url:
        response = post(url.replace("/sandbox", "/nobody"), envelope(), _key(sandbox_connection))
        wrong_method = httpx.get(url, timeout=10)

    assert response.status_code == 404
    assert wrong_method.status_code == 405
    assert inbox_rows() == []


def test_without_a_webhook_key_deliveries_are_503_so_servicetitan_retries(
    sandbox_connection: dict,
) -> None:
    with closing(Store(os.environ["CONNECTOR_DATABASE_URL"], 1)) as store, store.cursor() as cur:
        cur.execute("DELETE FROM connector.credentials WHERE field = 'webhook_key'")
    with receiver() as url:
        response = post(url, envelope(), _key(sandbox_connection))

    assert (response.status_code, response.json()) == (503, {"error": "key_missing"})
    assert inbox_rows() == []


def test_logs_hold_neither_secrets_nor_payloads(
    sandbox_connection: dict, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    st = sandbox_connection["servicetitan"]["api_url"]
    key = _key(sandbox_connection)
    body = envelope("occ-logged")
    raw = json.dumps(body).encode()
    with receiver() as url:
        emit(st, url, type="tn.acc.invoice-posted", invoiceId=77000001, userassignedid="occ-st")
        [delivered] = answered(st, "occ-st")
        sent = [
            post(url, raw, key),
            post(url, raw, "f" * 48),
            post(url, raw, None),
            post(url, envelope(tenant=7654321), key),
            post(url, b"not json at all: Secret summary 9Q7", key),
        ]

    assert [r.status_code for r in sent] == [200, 401, 401, 422, 400]
    assert delivered["status"] == 200
    text = caplog.text
    assert "connection sandbox: stored tn.acc.invoice-posted occurrence 'occ-st'" in text
    assert "401 signature_invalid" in text and "422 tenant_unknown" in text
    invoice = json.dumps(delivered["event"]["data"]["invoice"])
    secrets = [key, sign(raw, key, "hex"), sign(raw, "f" * 48, "hex"), "Secret summary", "273.13"]
    payloads = ["Acme Mechanical", invoice[:40], invoice[-40:], raw.decode()[:40]]
    for value in secrets + payloads:
        assert value not in text
