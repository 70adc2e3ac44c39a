"""Credentials encrypted at rest with Fernet; the key comes from CONNECTOR_MASTER_KEY.

`CONNECTOR_MASTER_KEY` holds one Fernet key, or several separated by commas
(newest first) while a rotation is under way: every key can decrypt, the first
one encrypts, and `rotate()` re-encrypts every row under the first key.

A credential may expire (`replace(..., keep_previous_as=..., grace=...)` keeps the
value it replaces under another field until then); once expired it is not returned.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from connector_dagster import systems
from connector_dagster.lib.settings import MASTER_KEY_VAR, ConfigError
from connector_dagster.lib.store import Store


class VaultError(Exception):
    """A credential cannot be stored or read; the message names which and why."""


@dataclass(frozen=True)
class Secret:
    """A decrypted credential and the instant it stops being valid (None: never)."""

    value: str
    expires_at: datetime | None = None


@dataclass(frozen=True)
class CredentialInfo:
    connection: str
    system: str
    field: str
    updated_at: datetime
    masked: str = "********"


def load_keys(value: str | None = None) -> MultiFernet:
    """Build the cipher from CONNECTOR_MASTER_KEY; never echo the key in errors."""
    raw = os.environ.get(MASTER_KEY_VAR) if value is None else value
    if not raw or not raw.strip():
        raise ConfigError(
            f"{MASTER_KEY_VAR} is not set: it must hold a Fernet key (generate one with "
            "`connector-dagster credentials new-key`); `make dev` writes its development "
            "key to .env for every shell of the project"
        )
    fernets = []
    for position, key in enumerate(k.strip() for k in raw.split(",")):
        try:
            fernets.append(Fernet(key.encode()))
        except (ValueError, TypeError):
            raise ConfigError(
                f"{MASTER_KEY_VAR}: key #{position + 1} is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes)"
            ) from None
    return MultiFernet(fernets)


class Vault:
    def __init__(self, store: Store, cipher: MultiFernet | None = None) -> None:
        self.store = store
        self.cipher = cipher or load_keys()

    def set(self, connection: str, system: str, field: str, secret: str) -> None:
        _check(system, field)
        if not secret:
            raise VaultError(f"{connection}/{system}/{field}: an empty value cannot be stored")
        token = self.cipher.encrypt(secret.encode())
        with self.store.cursor() as cur:
            cur.execute(
                """INSERT INTO connector.credentials (connection, system, field, ciphertext)
                   VALUES (%s, %s, %s, %s)
                   ON CONFLICT (connection, system, field) DO UPDATE
                   SET ciphertext = EXCLUDED.ciphertext, expires_at = NULL, updated_at = now()""",
                (connection, system, field, token),
            )

    def replace(
        self,
        connection: str,
        system: str,
        field: str,
        secret: str,
        keep_previous_as: str,
        grace: timedelta,
    ) -> datetime | None:
        """Set `field` to `secret` and, in the same transaction, keep the value it
        replaces as `keep_previous_as` until `grace` from now. Returns that expiry,
        or None when `field` had no value (nothing to keep)."""
        _check(system, field)
        _check(system, keep_previous_as)
        if not secret:
            raise VaultError(f"{connection}/{system}/{field}: an empty value cannot be stored")
        token = self.cipher.encrypt(secret.encode())
        with self.store.cursor() as cur:
            cur.execute(
                """SELECT ciphertext FROM connector.credentials
                   WHERE connection = %s AND system = %s AND field = %s FOR UPDATE""",
                (connection, system, field),
            )
            row = cur.fetchone()
            expires_at = None
            if row is not None:
                cur.execute(
                    """INSERT INTO connector.credentials
                           (connection, system, field, ciphertext, expires_at)
                       VALUES (%s, %s, %s, %s, now() + %s)
                       ON CONFLICT (connection, system, field) DO UPDATE
                       SET ciphertext = EXCLUDED.ciphertext, expires_at = EXCLUDED.expires_at,
                           updated_at = now()
                       RETURNING expires_at""",
                    (connection, system, keep_previous_as, bytes(row[0]), grace),
                )
                expires_at = cur.fetchone()[0]
            cur.execute(
                """INSERT INTO connector.credentials (connection, system, field, ciphertext)
                   VALUES (%s, %s, %s, %s)
                   ON CONFLICT (connection, system, field) DO UPDATE
                   SET ciphertext = EXCLUDED.ciphertext, expires_at = NULL, updated_at = now()""",
                (connection, system, field, token),
            )
        return expires_at

    def get(self, connection: str, system: str) -> dict[str, str]:
        """All unexpired fields of one connection's system, decrypted."""
        return {f: s.value for f, s in self.entries(connection, system).items()}

    def entries(self, connection: str, system: str) -> dict[str, Secret]:
        """Like get(), with each field's expiry (expired fields are left out)."""
        with self.store.cursor() as cur:
            cur.execute(
                """SELECT field, ciphertext, expires_at FROM connector.credentials
                   WHERE connection = %s AND system = %s
                     AND (expires_at IS NULL OR expires_at > now())""",
                (connection, system),
            )
            rows = cur.fetchall()
        return {
            f: Secret(self._decrypt(connection, system, f, bytes(c)), expires_at)
            for f, c, expires_at in rows
        }

    def require(
        self, connection: str, system: str, needed: tuple[str, ...] | None = None
    ) -> dict[str, str]:
        """Like get(), but every field the system needs (or `needed`) must be present."""
        found = self.get(connection, system)
        needed = systems.get(system).secrets if needed is None else needed
        missing = [f for f in needed if f not in found]
        if missing:
            raise VaultError(
                f"connection {connection!r} has no {system} credential(s) "
                f"{', '.join(missing)}: set them with "
                f"`connector-dagster credentials set {connection} {system} FIELD`"
            )
        return found

    def list(self) -> list[CredentialInfo]:
        with self.store.cursor() as cur:
            cur.execute(
                """SELECT connection, system, field, updated_at FROM connector.credentials
                   ORDER BY connection, system, field"""
            )
            return [CredentialInfo(*row) for row in cur.fetchall()]

    def rotate(self) -> int:
        """Re-encrypt every row under the first key; all of it or nothing. Returns rows."""
        with self.store.cursor() as cur:
            cur.execute(
                "SELECT connection, system, field, ciphertext FROM connector.credentials FOR UPDATE"
            )
            rows = cur.fetchall()
            for connection, system, field, token in rows:
                try:
                    fresh = self.cipher.rotate(bytes(token))
                except InvalidToken:
                    raise VaultError(_undecryptable(connection, system, field)) from None
                cur.execute(
                    """UPDATE connector.credentials SET ciphertext = %s, updated_at = now()
                       WHERE connection = %s AND system = %s AND field = %s""",
                    (fresh, connection, system, field),
                )
            return len(rows)

    def _decrypt(self, connection: str, system: str, field: str, token: bytes) -> str:
        try:
            return self.cipher.decrypt(token).decode()
        except InvalidToken:
            raise VaultError(_undecryptable(connection, system, field)) from None


def _undecryptable(connection: str, system: str, field: str) -> str:
    return (
        f"credential {connection}/{system}/{field} cannot be decrypted with "
        f"{MASTER_KEY_VAR}: the key is wrong (after a rotation, keep the old key after "
        "the new one until `credentials rotate` has run) or the row is corrupt"
    )


def _check(system: str, field: str) -> None:
    """The field is one the system keeps in the vault (its registered secrets)."""
    if system not in systems.registered():
        raise VaultError(f"unknown system {system!r}; one of {', '.join(systems.names())}")
    fields = systems.get(system).fields
    if field not in fields:
        raise VaultError(f"unknown {system} field {field!r}; one of {', '.join(fields)}")
