"""Webhook signatures, in the manner of Stripe's: an HMAC-SHA256 of the raw body,
hex or base64, compared in constant time with every valid key, and one function,
`construct_event`, that returns the verified event or raises `Refused`."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, replace

from connector_dagster.webhooks.envelope import Event, Expect, parse_event
from connector_dagster.webhooks.refusals import Refused

DIGEST_BYTES = hashlib.sha256().digest_size


@dataclass(frozen=True)
class SigningKey:
    label: str
    """`current`, or `previous` while a rotation's grace period runs."""
    secret: bytes

    def __repr__(self) -> str:
        return f"SigningKey({self.label!r}, ********)"


def decode(value: str) -> bytes:
    """The 32-byte digest a signature header carries, hex or base64 (padded or not)."""
    text = value.strip()
    if len(text) == 2 * DIGEST_BYTES:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    try:
        digest = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != DIGEST_BYTES:
        raise Refused(
            "signature_malformed",
            "the signature is neither a hex nor a base64 HMAC-SHA256 (32 bytes)",
        )
    return digest


def verify(body: bytes, header: str | None, keys: Sequence[SigningKey]) -> SigningKey:
    """The key whose HMAC-SHA256 of `body` is the signature in `header`; every key is
    compared in constant time. Refused (401) when the header is missing, malformed or
    matches no key."""
    if header is None or not header.strip():
        raise Refused(
            "signature_missing",
            "the request carries no signature header (servicetitan.webhooks.signature_header "
            "names it; set an HMAC key on the app in ServiceTitan's developer portal)",
        )
    given = decode(header)
    matched = None
    for key in keys:
        expected = hmac.new(key.secret, body, hashlib.sha256).digest()
        if hmac.compare_digest(expected, given) and matched is None:
            matched = key
    if matched is None:
        raise Refused(
            "signature_invalid",
            "the signature matches no webhook key of the vault; if the HMAC key changed in "
            "ServiceTitan, store it with `connector-dagster webhooks rotate-key <connection>`",
        )
    return matched


def construct_event(
    body: bytes, header: str | None, keys: Sequence[SigningKey], expect: Expect
) -> Event:
    """The event of a delivery: its signature verified over the raw `body` first,
    then its envelope, event type and tenant. Raises Refused otherwise."""
    key = verify(body, header, keys)
    return replace(parse_event(body, expect), signed_with=key.label)
