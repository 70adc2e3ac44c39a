"""A sandbox serving several tenants: ServiceTitan's on one API host (the tenant in the
path), each IFS on a host of its own; each tenant its own data, credentials, ceilings,
fault profile and control endpoints, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connector_dagster.sandbox.server import Sandbox, SandboxConfig

CLOCK = "2026-11-16T00:00:00Z"


@pytest.fixture(scope="module")
def tenants() -> Iterator[list[dict[str, Any]]]:
    """Three tenants: the first with a ceiling so low that its second request is
    refused, the others at a tenant's."""
    config = SandboxConfig(
        ifs_port=0,
        st_port=0,
        now=CLOCK,
        st_rate_per_s=0.001,
        tenants=[
            {"st_tenant_id": "2000001", "st_rate_per_s": 60.0},
            {"st_tenant_id": "3000001", "st_rate_per_s": 60.0, "scale": 2},
        ],
    )
    with Sandbox(config) as sandbox:
        yield sandbox.info["tenants"]


def st_token(st: dict[str, Any], basic: bool = False) -> str:
    form = {"grant_type": "client_credentials"}
    auth = None
    if basic:
        auth = (st["client_id"], st["client_secret"])
    else:
        form |= {"client_id": st["client_id"], "client_secret": st["client_secret"]}
    response = httpx.post(st["auth_url"], data=form, auth=auth, timeout=10)
    response.raise_for_status()
    return response.json()["access_token"]


def st_get(st: dict[str, Any], token: str, tenant: str | None = None) -> httpx.Response:
    url = f"{st['api_url']}/inventory/v2/tenant/{tenant or st['tenant_id']}/purchase-orders"
    headers = {"ST-App-Key": st["app_key"], "Authorization": f"Bearer {token}"}
    return httpx.get(url, params={"pageSize": 50}, headers=headers, timeout=10)


def control(st: dict[str, Any], what: str) -> str:
    return f"{st['api_url']}/_sandbox/tenants/{st['tenant_id']}/{what}"


def test_every_tenant_is_described_with_credentials_of_its_own(
    tenants: list[dict[str, Any]],
) -> None:
    sts = [t["servicetitan"] for t in tenants]
    assert len({st["api_url"] for st in sts}) == 1, "one ServiceTitan API host"
    assert len({t["ifs"]["base_url"] for t in tenants}) == 3, "an IFS host each"
    for field in ("tenant_id", "client_id", "client_secret", "app_key", "webhook_key"):
        assert len({st[field] for st in sts}) == 3, field
    assert len({t["ifs"]["client_secret"] for t in tenants}) == 3


def test_a_tenant_answers_its_own_credentials_with_its_own_data(
    tenants: list[dict[str, Any]],
) -> None:
    second, third = tenants[1]["servicetitan"], tenants[2]["servicetitan"]
    token = st_token(second, basic=True)
    pos = st_get(second, token).json()["data"]
    other = st_get(third, st_token(third)).json()["data"]
    assert pos and other
    assert [po["total"] for po in pos] != [po["total"] for po in other]

    refused = st_get({**second}, token, tenant=third["tenant_id"])
    assert refused.status_code in (401, 403), refused.text
    ifs = [t["ifs"] for t in tenants[1:]]
    form = {"grant_type": "client_credentials", "client_id": ifs[0]["client_id"]}
    ok = httpx.post(ifs[0]["token_url"], data={**form, "client_secret": ifs[0]["client_secret"]})
    assert ok.status_code == 200
    wrong = httpx.post(ifs[1]["token_url"], data={**form, "client_secret": ifs[0]["client_secret"]})
    assert wrong.status_code in (400, 401), wrong.text


def test_ceilings_and_faults_are_each_tenants_own(tenants: list[dict[str, Any]]) -> None:
    first, second = tenants[0]["servicetitan"], tenants[1]["servicetitan"]
    first_token, second_token = st_token(first), st_token(second)
    statuses = [st_get(first, first_token).status_code for _ in range(2)]
    assert statuses == [200, 429], "the first tenant's ceiling is one request"
    assert st_get(second, second_token).status_code == 200

    httpx.put(control(second, "faults"), json={"rate_500": 1.0}, timeout=10).raise_for_status()
    try:
        assert st_get(second, second_token).status_code == 500
        third = tenants[2]["servicetitan"]
        assert st_get(third, st_token(third)).status_code == 200
    finally:
        httpx.put(control(second, "faults"), json={}, timeout=10).raise_for_status()
    counted = httpx.get(control(second, "requests"), timeout=10).json()
    assert {(r["route"], r["status"]) for r in counted} >= {
        ("GET inventory/purchase-orders", 500),
        ("GET inventory/purchase-orders", 200),
    }
    assert all(r["status"] != 429 for r in counted)


def test_a_tenant_the_sandbox_does_not_serve(tenants: list[dict[str, Any]]) -> None:
    st = tenants[0]["servicetitan"]
    response = httpx.get(f"{st['api_url']}/_sandbox/tenants/999/requests", timeout=10)
    assert response.status_code == 404
    assert "no tenant 999" in response.json()["error"]


@pytest.mark.parametrize(
    ("tenants", "message"),
    [
        ([{"st_tenant_id": "1234567"}], "st_tenant_id '1234567' is not a number of digits"),
        ([{"st_tenant_id": "abc"}], "sandbox tenant 1: st_tenant_id 'abc'"),
        ([{"st_tenant_id": "2", "latency_ms": 5}], "sandbox tenant 1: latency_ms cannot differ"),
    ],
)
def test_tenants_that_cannot_be_served_are_named(tenants: list[dict], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SandboxConfig(tenants=tenants)


def test_a_state_file_keeps_one_tenant(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="state file keeps one tenant"):
        SandboxConfig(state_file=str(tmp_path / "s.json"), tenants=[{"st_tenant_id": "2"}])
