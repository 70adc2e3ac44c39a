"""Helpers for the IFS simulator's tests: an in-process simulator with a bare client (a
bearer token and hand-built query strings), the project's IFS client pointed at it, and
`$batch` bodies written and read by hand (read back with the standard library's MIME
parser, not the simulator's)."""

from __future__ import annotations

import base64
import dataclasses
import email
import email.policy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from connector_dagster.sandbox import world
from connector_dagster.sandbox.faults import FaultProfile
from connector_dagster.sandbox.ifs import app as ifs
from connector_dagster.sandbox.server import SandboxConfig, running
from connector_dagster.systems.ifs.client import IfsClient, IfsSettings

INT = "/int/ifsapplications/projection/v1"
EV = f"{INT}/ExternalVoucherHandling.svc"
PP = f"{INT}/PostingProposalHandling.svc"
PO = f"{INT}/PurchaseOrderHandling.svc"
PO_LINES = "/int/ifsapplications/entity/v1/PurchaseOrderLineEntity.svc/PurchaseOrderLineSet"
HISTORY = f"{INT}/HistoryLogHandling.svc/HistoryLogOverviewSet"
CHECK = "IfsApp.ExternalVoucherHandling.ExternalVoucher_Check"
SECRET = "test-secret"
TOKEN_URL = "/auth/realms/acme1/protocol/openid-connect/token"
RELEASED = "IfsApp.PurchaseOrderHandling.PurchaseOrderState'Released'"


class Ifs:
    """A bare-bones IFS client: a bearer token and hand-built query strings."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.token = http.post(
            TOKEN_URL,
            data={
                "grant_type": "client_credentials",
                "client_id": "CONNECTOR_SVC",
                "client_secret": SECRET,
            },
        ).json()["access_token"]

    def get(self, path: str, **headers: str) -> httpx.Response:
        return self.http.get(path, headers={"Authorization": f"Bearer {self.token}", **headers})

    def send(self, method: str, path: str, body: Any = None, **headers: str) -> httpx.Response:
        """A write with a JSON body (unless `body` is bytes) and the bearer token."""
        headers = {"Authorization": f"Bearer {self.token}", **headers}
        if isinstance(body, bytes):
            return self.http.request(method, path, content=body, headers=headers)
        return self.http.request(method, path, json=body, headers=headers)

    def rows(self, path: str) -> list[dict[str, Any]]:
        response = self.get(path)
        assert response.status_code == 200, response.text
        return response.json()["value"]

    def raw(self, entity_set: str) -> list[dict[str, Any]]:
        return self.http.get(f"/_sandbox/entities/{entity_set}").json()["value"]


def make_config(**overrides: Any) -> SandboxConfig:
    """The test configuration; its clock serves the whole seeded window."""
    return SandboxConfig(ifs_client_secret=SECRET, **{"now": world.WINDOW_SETTLED, **overrides})


def decode_etag(tag: str) -> str:
    assert tag.startswith('W/"') and tag.endswith('"')
    return base64.b64decode(tag[3:-1]).decode()


def iter_pages(client: Ifs, path: str) -> Iterator[dict[str, Any]]:
    url: str | None = path
    while url:
        body = client.get(url).json()
        yield from body["value"]
        url = body.get("@odata.nextLink")


@contextmanager
def simulator(**config: Any) -> Iterator[httpx.Client]:
    """The IFS simulator on a free port (clock after the seeded window, no rate limit)."""
    app = ifs.create_app(make_config(ifs_rate_per_min=0, **config), FaultProfile())
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        yield http


def fresh(http: httpx.Client, **behaviour: Any) -> Ifs:
    """The seed again, no faults, default switches (plus `behaviour`), and a new token."""
    http.post("/_sandbox/reset").raise_for_status()
    http.put("/_sandbox/faults", json={}).raise_for_status()
    switches = {**dataclasses.asdict(ifs.IfsBehaviour()), **behaviour}
    http.put("/_sandbox/behaviour", json=switches).raise_for_status()
    return Ifs(http)


def project_client(http: httpx.Client, **settings: Any) -> IfsClient:
    """The connector's own IFS client, talking to this simulator."""
    return IfsClient(
        IfsSettings(
            base_url=str(http.base_url).rstrip("/"),
            realm="acme1",
            client_id="CONNECTOR_SVC",
            client_secret=SECRET,
            rate_per_min=60_000,
            **settings,
        )
    )


# -- $batch bodies -----------------------------------------------------------------------------


def request_part(method: str, url: str, body: Any = None, **headers: str) -> str:
    """One `application/http` part; a dict body is sent as JSON."""
    mime = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if "content_id" in headers:
        mime.append(f"Content-ID: {headers.pop('content_id')}")
    lines = [f"{method} {url} HTTP/1.1"]
    text = ""
    if body is not None:
        text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
        headers.setdefault("Content-Type", "application/json")
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return "\r\n".join(mime) + "\r\n\r\n" + "\r\n".join(lines) + "\r\n\r\n" + text


def changeset(*parts: str, boundary: str = "changeset_77162fcd") -> str:
    inner = "".join(f"--{boundary}\r\n{p}\r\n" for p in parts) + f"--{boundary}--"
    return f"Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n{inner}"


def batch_body(*parts: str, boundary: str = "batch_36522ad7") -> bytes:
    text = "".join(f"--{boundary}\r\n{p}\r\n" for p in parts) + f"--{boundary}--\r\n"
    return text.encode()


def send_batch(
    client: Ifs, service: str, body: bytes, boundary: str = "batch_36522ad7", **headers: str
) -> httpx.Response:
    content_type = f"multipart/mixed; boundary={boundary}"
    return client.send(
        "POST", f"{service}/$batch", body, **{"Content-Type": content_type, **headers}
    )


@dataclass
class PartAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    content_id: str | None

    def json(self) -> Any:
        return json.loads(self.body)


def answers(response: httpx.Response) -> list[PartAnswer | list[PartAnswer]]:
    """The batch response's parts, a change set's as a list, read by `email`."""
    raw = f"Content-Type: {response.headers['content-type']}\r\n\r\n".encode() + response.content
    message = email.message_from_bytes(raw, policy=email.policy.HTTP)
    return [_answer_or_set(part) for part in message.iter_parts()]


def _answer_or_set(part: Any) -> PartAnswer | list[PartAnswer]:
    if part.get_content_type() == "multipart/mixed":
        return [_answer(p) for p in part.iter_parts()]
    return _answer(part)


def _answer(part: Any) -> PartAnswer:
    assert part.get_content_type() == "application/http"
    payload = part.get_payload(decode=True)
    head, _, body = payload.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return PartAnswer(int(status_line.split()[1]), headers, body, part.get("Content-ID"))
