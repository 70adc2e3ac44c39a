"""Signature verification on its own: hex or base64 digests, every valid key compared,
and the signature checked before anything in the body is read."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import pytest

from connector_dagster.webhooks.envelope import Expect
from connector_dagster.webhooks.refusals import Refused
from connector_dagster.webhooks.signature import (
    SigningKey,
    construct_event,
    decode,
    verify,
)
from connector_dagster_tests.webhooks.support import envelope

CURRENT = SigningKey("current", b"c" * 40)
PREVIOUS = SigningKey("previous", b"p" * 40)
EXPECT = Expect(
    "1234567", frozenset({"tn.acc.invoice-posted"}), timedelta(hours=72), timedelta(minutes=5)
)


def _digest(body: bytes, key: SigningKey) -> bytes:
    return hmac.new(key.secret, body, hashlib.sha256).digest()


@pytest.mark.parametrize(
    "encode",
    [
        bytes.hex,
        lambda d: d.hex().upper(),
        lambda d: base64.b64encode(d).decode(),
        lambda d: base64.b64encode(d).decode().rstrip("="),
        lambda d: f"  {d.hex()}\t",
    ],
)
def test_hex_and_base64_digests_decode_alike(encode) -> None:
    digest = hashlib.sha256(b"x").digest()
    assert decode(encode(digest)) == digest


def test_the_key_that_verifies_is_named() -> None:
    body = b'{"a": 1}'
    assert verify(body, _digest(body, CURRENT).hex(), [CURRENT, PREVIOUS]) is CURRENT
    assert verify(body, _digest(body, PREVIOUS).hex(), [CURRENT, PREVIOUS]) is PREVIOUS
    with pytest.raises(Refused) as err:
        verify(body, _digest(body, PREVIOUS).hex(), [CURRENT])
    assert (err.value.status, err.value.reason) == (401, "signature_invalid")


def test_a_body_changed_by_one_byte_does_not_verify() -> None:
    body = json.dumps(envelope()).encode()
    signature = _digest(body, CURRENT).hex()
    with pytest.raises(Refused, match="matches no webhook key"):
        construct_event(body.replace(b"273.13", b"273.14"), signature, [CURRENT], EXPECT)


def test_the_signature_is_checked_before_the_body_is_parsed() -> None:
    with pytest.raises(Refused) as err:
        construct_event(b"not json", "00" * 32, [CURRENT], EXPECT)
    assert err.value.reason == "signature_invalid"


def test_a_verified_event_carries_its_ids_and_the_key_that_signed_it() -> None:
    raw = envelope("occ-9")
    body = json.dumps(raw).encode()

    event = construct_event(body, _digest(body, PREVIOUS).hex(), [CURRENT, PREVIOUS], EXPECT)

    assert (event.occurrence_id, event.delivery_id) == ("occ-9", raw["id"])
    assert (event.type, event.tenant_id, event.signed_with) == (
        "tn.acc.invoice-posted",
        "1234567",
        "previous",
    )
    assert event.time is not None and event.time.utcoffset().total_seconds() == 0
    assert event.body == raw


def test_a_signing_key_never_shows_its_secret() -> None:
    assert "c" * 40 not in repr(CURRENT)
