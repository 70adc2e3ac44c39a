"""What a sandbox run is configured with: ports, seed, scale, clock, credentials,
limits and switches of both simulators. Its own module so that both simulators and
the server import it without importing each other."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from connector_dagster.sandbox import world

DEFAULT_IFS_PORT = 8571
DEFAULT_ST_PORT = 8572


@dataclass
class SandboxConfig:
    """One sandbox run; ports 0 pick free ports. Credentials are random per run."""

    host: str = "127.0.0.1"
    ifs_port: int = DEFAULT_IFS_PORT
    st_port: int = DEFAULT_ST_PORT
    seed: int = 42
    scale: int = 1
    # IFS purchase orders seeded in given months ("YYYY-MM" -> count) instead of about
    # 40 x scale: one large period (100,000 orders, say) beside a small history.
    period_orders: dict[str, int] = field(default_factory=dict)
    # ServiceTitan invoices (each with its items and job) seeded in given months instead
    # of 60 x scale: one large period of F3's beside a small history.
    period_invoices: dict[str, int] = field(default_factory=dict)
    latency_ms: float = 0.0
    # The sandbox's clock, an ISO 8601 instant (UTC unless it has an offset): no
    # record is seeded dated after it. None: the real time when a simulator starts.
    now: str | None = None
    # A file the simulators' data is kept in between runs (None: each run starts from the
    # seed): loaded at start when written for the same seed, scale and clock, saved every
    # `state_save_s` seconds and when the sandbox stops.
    state_file: str | None = None
    state_save_s: float = 30.0
    # IFS
    ifs_realm: str = "acme1"
    ifs_client_id: str = "CONNECTOR_SVC"
    ifs_client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    ifs_token_lifetime_s: int = 180
    ifs_rate_per_min: float = 1000.0
    # Operations a minute per client, a second limit beside the requests one: a request
    # is one operation, a `$batch` one per request it holds (its change sets' included),
    # all of them counted when it arrives. IFS publishes neither limit; the default lets a
    # `$batch` of 10 documents of about 6 requests each go at the request limit.
    ifs_operations_per_min: float = 60000.0
    ifs_page_size: int = 500
    ifs_missing_if_match: str = "upsert"  # or "428"
    ifs_csrf_on_main: bool = True
    # ServiceTitan
    st_tenant_id: str = "1234567"
    st_app_key: str = field(default_factory=lambda: "ak1." + secrets.token_hex(12))
    st_client_id: str = field(default_factory=lambda: "cid." + secrets.token_hex(8))
    st_client_secret: str = field(default_factory=lambda: "cs1." + secrets.token_urlsafe(24))
    st_token_lifetime_s: int = 900
    st_rate_per_s: float = 60.0
    st_page_size_max: int = 5000
    webhook_key: str = field(default_factory=lambda: secrets.token_hex(24))
    webhook_url: str | None = None
    webhook_signature_header: str = "X-ST-Signature"
    webhook_signature_encoding: str = "hex"  # or "base64"
    webhook_retry_delays_s: tuple[float, ...] = (10, 30, 60, 300)
    webhook_time_scale: float = 1.0
    # More tenants beside this one, served at once: each the fields in which it differs
    # (TENANT_FIELDS), `st_tenant_id` at least. Its ServiceTitan API is this one's (the
    # tenant in the path), its IFS a host of its own (`ifs_port`, 0: a free port); its
    # seed is this one's plus its place in the list, its credentials are its own.
    tenants: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._check_tenants()
        for month, count in self.period_orders.items():
            check_period_orders(month, count)
        for month, count in self.period_invoices.items():
            check_period_orders(month, count, "--period-invoices", "invoices")
        if self.now is not None:
            self.seeded_as_of()
        if not self.state_save_s > 0:
            raise ValueError(
                f"state_save_s {self.state_save_s!r} is not a number of seconds above 0"
            )

    def _check_tenants(self) -> None:
        """One line naming the tenant and the field for a tenant that cannot be served;
        each tenant's missing credentials drawn now, so that they travel with the config."""
        if self.tenants and self.state_file:
            raise ValueError("a state file keeps one tenant's data; serve more tenants without one")
        seen = {self.st_tenant_id}
        for i, tenant in enumerate(self.tenants, start=1):
            unknown = sorted(set(tenant) - set(TENANT_FIELDS))
            if unknown:
                raise ValueError(
                    f"sandbox tenant {i}: {', '.join(unknown)} cannot differ per tenant; "
                    f"give any of {', '.join(TENANT_FIELDS)}"
                )
            tenant_id = str(tenant.get("st_tenant_id", ""))
            if not tenant_id.isdigit() or tenant_id in seen:
                raise ValueError(
                    f"sandbox tenant {i}: st_tenant_id {tenant_id!r} is not a number of "
                    "digits that no other tenant has"
                )
            seen.add(tenant_id)
            tenant["st_tenant_id"] = tenant_id
            tenant.setdefault("seed", self.seed + i)
            tenant.setdefault("ifs_port", 0)
            for name, draw in _CREDENTIALS.items():
                tenant.setdefault(name, draw())

    def tenant_configs(self) -> list[SandboxConfig]:
        """Every tenant's own configuration, this one's first."""
        return [self, *(replace(self, tenants=[], **tenant) for tenant in self.tenants)]

    def months_of_orders(self) -> dict[tuple[int, int], int]:
        """`period_orders` by (year, month)."""
        return {(int(m[:4]), int(m[5:7])): n for m, n in self.period_orders.items()}

    def months_of_invoices(self) -> dict[tuple[int, int], int]:
        """`period_invoices` by (year, month)."""
        return {(int(m[:4]), int(m[5:7])): n for m, n in self.period_invoices.items()}

    def seeded_as_of(self) -> datetime:
        """The instant the seed is dated as of: `now`, or the real time (UTC)."""
        if self.now is None:
            return datetime.now(UTC)
        text = self.now.strip()
        try:
            instant = datetime.fromisoformat(
                text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
            )
        except ValueError:
            raise ValueError(
                f"sandbox clock {self.now!r} is not an ISO 8601 instant; "
                "give one like 2026-06-15T12:00:00Z"
            ) from None
        instant = instant.astimezone(UTC) if instant.tzinfo else instant.replace(tzinfo=UTC)
        if instant.date().isoformat() < world.WINDOW_START:
            raise ValueError(
                f"sandbox clock {self.now!r} is before the seeded window, which starts "
                f"{world.WINDOW_START}; give an instant on or after it"
            )
        return instant

    def describe(
        self, ifs_port: int, st_port: int, more_ifs_ports: tuple[int, ...] = ()
    ) -> dict[str, Any]:
        """Where the first tenant is served and with which credentials; with more
        tenants, `tenants` lists every one alike (the first again), `more_ifs_ports` the
        IFS ports of the others."""
        first = self._describe(ifs_port, st_port)
        if not self.tenants:
            return first
        others = zip(self.tenant_configs()[1:], more_ifs_ports, strict=True)
        return {**first, "tenants": [first, *(c._describe(p, st_port) for c, p in others)]}

    def _describe(self, ifs_port: int, st_port: int) -> dict[str, Any]:
        ifs_base = f"http://{self.host}:{ifs_port}"
        realm_path = f"/auth/realms/{self.ifs_realm}/protocol/openid-connect/token"
        st_base = f"http://{self.host}:{st_port}"
        return {
            "ifs": {
                "base_url": ifs_base,
                "token_url": ifs_base + realm_path,
                "realm": self.ifs_realm,
                "client_id": self.ifs_client_id,
                "client_secret": self.ifs_client_secret,
            },
            "servicetitan": {
                "api_url": st_base,
                "auth_url": f"{st_base}/connect/token",
                "tenant_id": self.st_tenant_id,
                "app_key": self.st_app_key,
                "client_id": self.st_client_id,
                "client_secret": self.st_client_secret,
                "webhook_key": self.webhook_key,
            },
        }


_CREDENTIALS = {
    "ifs_client_secret": lambda: secrets.token_urlsafe(24),
    "st_app_key": lambda: "ak1." + secrets.token_hex(12),
    "st_client_id": lambda: "cid." + secrets.token_hex(8),
    "st_client_secret": lambda: "cs1." + secrets.token_urlsafe(24),
    "webhook_key": lambda: secrets.token_hex(24),
}
"""A tenant's own credentials, drawn like the first tenant's."""

TENANT_FIELDS = (
    "st_tenant_id",
    "seed",
    "scale",
    "period_orders",
    "ifs_port",
    "ifs_realm",
    "ifs_client_id",
    "ifs_rate_per_min",
    "st_rate_per_s",
    "webhook_url",
    *_CREDENTIALS,
)
"""What may differ between the tenants of one sandbox."""

MAX_PERIOD_ORDERS = 1_000_000


def check_period_orders(
    month: str, count: int, option: str = "--period-orders", what: str = "orders"
) -> None:
    """ValueError (one line) unless `month` is a YYYY-MM of the seeded window and `count`
    a number of `what` from 0 to MAX_PERIOD_ORDERS (`option` names the setting)."""
    first, last = world.WINDOW_START[:7], world.WINDOW_END[:7]
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", str(month)) or not first <= month <= last:
        raise ValueError(
            f"period {month!r} of {option} is not a month YYYY-MM of the seeded "
            f"window {first}..{last}"
        )
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_PERIOD_ORDERS:
        raise ValueError(
            f"{option} {month}: {count!r} is not a number of {what} from 0 to {MAX_PERIOD_ORDERS:,}"
        )
