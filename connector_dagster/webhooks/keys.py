"""Each connection's webhook signing keys, from the vault (system `servicetitan`):

- `webhook_key`: the HMAC key set on the app in ServiceTitan's developer portal;
- `webhook_key_previous`: the key it replaced, kept by `rotate_key` with an expiry
  (`servicetitan.webhooks.key_grace_hours`, 72 by default) and accepted until then,
  so deliveries signed before, during and after the switch in the portal all verify.

The receiver reads them at most every `key_cache_s` seconds per connection."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from connector_dagster.lib.settings import ConfigError
from connector_dagster.systems.vault import Vault
from connector_dagster.webhooks.refusals import Refused
from connector_dagster.webhooks.signature import SigningKey

SYSTEM = "servicetitan"
CURRENT = "webhook_key"
PREVIOUS = "webhook_key_previous"
KEY_CHARS = (32, 64)
"""ServiceTitan's HMAC keys are 32 to 64 characters."""


@dataclass(frozen=True)
class KeyState:
    """What the vault holds for one connection, without the secrets."""

    current: bool
    previous_until: datetime | None


def key_state(vault: Vault, connection: str) -> KeyState:
    entries = vault.entries(connection, SYSTEM)
    previous = entries.get(PREVIOUS)
    return KeyState(CURRENT in entries, previous.expires_at if previous else None)


def rotate_key(vault: Vault, connection: str, new_key: str, grace: timedelta) -> datetime | None:
    """Make `new_key` the current key and keep the current one as the previous key for
    `grace`; returns until when it is accepted (None if there was no key before)."""
    low, high = KEY_CHARS
    if not low <= len(new_key) <= high:
        raise ConfigError(
            f"connection {connection}: a ServiceTitan webhook key has {low} to {high} "
            f"characters, this one has {len(new_key)}; copy it from the app's webhook "
            "settings in the developer portal"
        )
    return vault.replace(connection, SYSTEM, CURRENT, new_key, PREVIOUS, grace)


@dataclass(frozen=True)
class _Cached:
    keys: tuple[SigningKey, ...]
    previous_until: datetime | None
    read_at: float


class KeyRing:
    """The valid signing keys of each connection, cached for `cache_s[connection]`."""

    def __init__(
        self,
        vault: Vault,
        cache_s: Mapping[str, float],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`clock` tells the time against which the previous key's expiry is read."""
        self.vault = vault
        self.cache_s = dict(cache_s)
        self.clock = clock
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    def keys(self, connection: str) -> tuple[SigningKey, ...]:
        """The current key first, then the previous one until its expiry; read from
        the vault when the cache is stale. Refused (503) when the vault has none:
        ServiceTitan retries the delivery."""
        cached = self.cached(connection)
        if cached is not None:
            return cached
        with self._lock:
            entry = self._cache.get(connection)
            if entry is None or self._stale(connection, entry):
                entry = self._cache[connection] = self._read(connection)
        return self._valid(connection, entry)

    def cached(self, connection: str) -> tuple[SigningKey, ...] | None:
        """The keys when read less than `cache_s` ago, else None (without I/O, so the
        event loop may call it; `keys()` reads the vault)."""
        entry = self._cache.get(connection)
        if entry is None or self._stale(connection, entry):
            return None
        return self._valid(connection, entry)

    def _stale(self, connection: str, entry: _Cached) -> bool:
        return time.monotonic() - entry.read_at >= self.cache_s[connection]

    def _valid(self, connection: str, entry: _Cached) -> tuple[SigningKey, ...]:
        keys = entry.keys
        if entry.previous_until is not None and self.clock() >= entry.previous_until:
            keys = tuple(k for k in keys if k.label != "previous")
        if not keys:
            raise Refused(
                "key_missing",
                f"the vault holds no webhook key for connection {connection}; store it with "
                f"`connector-dagster credentials set {connection} {SYSTEM} {CURRENT}`",
            )
        return keys

    def _read(self, connection: str) -> _Cached:
        entries = self.vault.entries(connection, SYSTEM)
        keys = []
        previous_until = None
        if CURRENT in entries:
            keys.append(SigningKey("current", entries[CURRENT].value.encode()))
        if PREVIOUS in entries:
            keys.append(SigningKey("previous", entries[PREVIOUS].value.encode()))
            previous_until = entries[PREVIOUS].expires_at
        return _Cached(tuple(keys), previous_until, time.monotonic())
