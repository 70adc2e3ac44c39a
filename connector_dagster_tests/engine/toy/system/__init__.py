"""A third, toy system, as a system package is written: its block in a connection,
the credential it needs, its client (on the project's HTTP engine, so that its rate
limit is shared and its writes are fenced) and whom its requests count against.
`test_toy_system.py` copies it to `connector_dagster/systems/toy/` in a copy of the
project; nothing else there changes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from connector_dagster.lib.http import HttpTransport
from connector_dagster.lib.ratelimit import Rate
from connector_dagster.lib.shared_ratelimit import client_limiter
from connector_dagster.systems import ClientContext, System
from connector_dagster.systems.settings import SystemSettings, secure_url


class ToyConnection(SystemSettings):
    base_url: str
    rate_per_s: float = Field(20, gt=0)
    timeout_s: float = Field(5, gt=0)

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return secure_url(v, "toy notes service")


class ToyClient:
    def __init__(self, block: ToyConnection, token: str, context: ClientContext) -> None:
        self.transport = HttpTransport(
            base_url=block.base_url,
            label=f"Toy {context.connection}",
            limiter=client_limiter(
                "toy",
                urlsplit(block.base_url).netloc,
                Rate.per_second(block.rate_per_s),
                context.database_url,
            ),
            headers={"Authorization": f"Bearer {token}"},
            timeouts=block.timeouts,
        )

    def get(self, path: str) -> Any:
        return self.transport.request("GET", path).data

    def send(self, method: str, path: str, body: Any = None) -> Any:
        return self.transport.request(method, path, json_body=body).data

    def close(self) -> None:
        self.transport.close()


def _client(block: ToyConnection, secrets: Mapping[str, str], context: ClientContext) -> ToyClient:
    return ToyClient(block, secrets["api_token"], context)


SYSTEM = System(
    name="toy",
    title="Toy Notes",
    settings=ToyConnection,
    secrets=("api_token",),
    client=_client,
    shared_by=lambda block: urlsplit(block.base_url).netloc,
)
