"""Several ServiceTitan tenants on one API host, as ServiceTitan serves them: each a
simulator of its own (`app.create_app`: its data, credentials, rate limit, fault profile
and control endpoints), chosen per request by

- the tenant in the path, `/{module}/v2/tenant/{tenant}/…`;
- the client id, for `POST /connect/token` (Basic credentials or the form's);
- `/_sandbox/tenants/{tenant}/…`, for that tenant's control endpoints (`/_sandbox/…`).

Anything else, and a tenant no simulator serves, goes to the first tenant's: a client
of one tenant sees exactly what a sandbox of that tenant alone answers."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs

from starlette.types import Message, Receive, Scope, Send

from connector_dagster.sandbox.servicetitan.app import API_VERSION, AUTH_PATH

CONTROL = "/_sandbox/tenants/"


class TenantRouter:
    """An ASGI app sending each request to its tenant's simulator."""

    def __init__(self, apps: list[Any]) -> None:
        self.apps = apps
        self.by_tenant = {app.state.sim.config.st_tenant_id: app for app in apps}
        self.by_client = {app.state.sim.config.st_client_id: app for app in apps}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.apps[0](scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(CONTROL):
            await self._control(scope, receive, send)
            return
        if path == AUTH_PATH and scope["method"] == "POST":
            await self._token(scope, receive, send)
            return
        parts = path.strip("/").split("/", 4)
        if len(parts) > 3 and parts[1] == API_VERSION and parts[2] == "tenant":
            await self.by_tenant.get(parts[3], self.apps[0])(scope, receive, send)
            return
        await self.apps[0](scope, receive, send)

    async def _control(self, scope: Scope, receive: Receive, send: Send) -> None:
        tenant, _, rest = scope["path"][len(CONTROL) :].partition("/")
        app = self.by_tenant.get(tenant)
        if app is None:
            body = json.dumps({"error": f"no tenant {tenant} in this sandbox"}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 404,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        inner = f"/_sandbox/{rest}"
        await app({**scope, "path": inner, "raw_path": inner.encode()}, receive, send)

    async def _token(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The tenant whose client id the request brings; its body replayed to it."""
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        app = self.by_client.get(_client_id(scope, body), self.apps[0])
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await app(scope, replay, send)


def _client_id(scope: Scope, body: bytes) -> str:
    for name, value in scope["headers"]:
        if name == b"authorization" and value[:6].lower() == b"basic ":
            try:
                return base64.b64decode(value[6:]).decode().partition(":")[0]
            except ValueError:
                return ""
    form = parse_qs(body.decode("utf-8", "replace"))
    return (form.get("client_id") or [""])[0]
