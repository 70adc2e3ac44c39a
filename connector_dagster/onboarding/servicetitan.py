"""What a flow uses of ServiceTitan (an API resource, the methods it writes with), and
how `check` asks for it: one page of the resource, read with the app's key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from connector_dagster.lib.errors import ApiError
from connector_dagster.onboarding.findings import FAILED, FORBIDDEN, MISSING, OK, Finding
from connector_dagster.onboarding.probe import Probe, api_text

SYSTEM = "servicetitan"
TENANT_PROBE = ("settings", "business-units")
"""Read to check the tenant and app key: every app with any scope on a tenant reads it."""


@dataclass(frozen=True)
class Resource:
    """A ServiceTitan API resource (`accounting`, `journal-entries`) a flow reads, and
    the writes it sends to it (`POST`, `PATCH`, `POST markasexported`)."""

    module: str
    path: str
    writes: tuple[str, ...] = ()
    system: ClassVar[str] = SYSTEM

    @property
    def name(self) -> str:
        return f"{self.module}/{self.path}"

    def check(self, probe: Probe, flow: str, settings: Any) -> list[Finding]:
        answer = probe.once((SYSTEM, self.name), lambda: _one_page(probe, self.module, self.path))
        access = "read and write" if self.writes else "read"
        if isinstance(answer, ApiError):
            status = {403: FORBIDDEN, 404: MISSING}.get(answer.status or 0, FAILED)
            fix = (
                f"grant the ServiceTitan app the scope for {self.name} ({access}) in the "
                "developer portal, then have the tenant's admin re-approve the app"
                if status == FORBIDDEN
                else "check the API URL of the connection's servicetitan block"
            )
            return [Finding(SYSTEM, self.name, status, api_text(answer), fix, flow)]
        writes = f"; writes ({', '.join(self.writes)}) not probed" if self.writes else ""
        return [Finding(SYSTEM, self.name, OK, f"read{writes}", "", flow)]


def _one_page(probe: Probe, module: str, path: str) -> Any:
    st = probe.session.client(SYSTEM)
    params = {} if path.startswith("export/") else {"pageSize": 1}
    return st.get(module, path, params)


def authenticate(probe: Probe) -> list[Finding]:
    """A token for the app, how long it is granted for, then the tenant and app key."""
    st = probe.session.client(SYSTEM)
    tenant = st.settings.tenant_id
    try:
        st.transport.tokens.token()
    except ApiError as exc:
        fix = (
            "check the servicetitan auth_url and the vault's servicetitan client_id and "
            f"client_secret (credentials set {probe.session.name} servicetitan client_secret)"
        )
        return [Finding(SYSTEM, "token", FAILED, api_text(exc), fix)]
    found = [Finding(SYSTEM, "token", OK, f"granted for {st.engine.tokens.lifetime_s:.0f} s")]
    answer = probe.once((SYSTEM, "/".join(TENANT_PROBE)), lambda: _one_page(probe, *TENANT_PROBE))
    if not isinstance(answer, ApiError):
        return [*found, Finding(SYSTEM, f"tenant {tenant}", OK, "app key and tenant accepted")]
    said = api_text(answer)
    if "key" in said.lower():
        fix = f"set the app's key: credentials set {probe.session.name} servicetitan app_key"
        return [*found, Finding(SYSTEM, "app key", FORBIDDEN, said, fix)]
    if answer.status in (403, 404):
        fix = (
            f"check servicetitan tenant_id ({tenant}) in the connections file and that the "
            "tenant's admin approved the app"
        )
        return [*found, Finding(SYSTEM, f"tenant {tenant}", FORBIDDEN, said, fix)]
    return [*found, Finding(SYSTEM, f"tenant {tenant}", FAILED, said, "see ServiceTitan's error")]
