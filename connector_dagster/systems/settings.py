"""What every system's block in a connection shares: strict models, URLs that keep
credentials off the network in clear, and the timeouts of one request."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from connector_dagster.lib.http import Timeouts


class SettingsModel(BaseModel):
    """A block of the connections file: unknown keys are errors; values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SystemSettings(SettingsModel):
    """A system's block in a connection. Each system sets its own defaults."""

    timeout_s: float = Field(30, gt=0)
    """Read timeout of one request: how long an answer is waited for."""
    connect_timeout_s: float = Field(10, gt=0)
    """Connect timeout, also the write timeout of a request's body."""

    @property
    def timeouts(self) -> Timeouts:
        return Timeouts.of(self.connect_timeout_s, self.timeout_s)


def secure_url(v: str, what: str) -> str:
    """An https URL, or http on this machine only (tokens and secrets travel on it)."""
    if not re.match(r"^https?://[^/\s]+", v):
        raise ValueError(f"must be an http(s) URL of the {what}")
    parts = urlsplit(v)
    if parts.scheme == "http" and not loopback(parts.hostname or ""):
        raise ValueError(
            "must use https: credentials and tokens would cross the network in clear "
            "(http:// is allowed only for this machine, e.g. the sandbox on 127.0.0.1)"
        )
    return v.rstrip("/")


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
