"""ServiceTitan simulator: OAuth2 client credentials, bearer tokens, ST-App-Key,
tenant checks and the per-(app key, tenant) rate limit, over real HTTP."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import pytest

from connector_dagster_tests.sandbox.servicetitan.support import (
    StSandbox,
    fetch_token,
    st_sandbox,
)

PROBLEM_KEYS = {"type", "title", "status", "traceId", "errors", "data"}


@pytest.fixture(scope="module")
def st() -> Iterator[StSandbox]:
    with st_sandbox() as sandbox:
        yield sandbox


def _token_form(st: StSandbox, **overrides: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": st.config.st_client_id,
        "client_secret": st.config.st_client_secret,
        **overrides,
    }


def test_token_endpoint_issues_a_bearer_token_with_the_configured_lifetime(st: StSandbox) -> None:
    response = st.client.post("/connect/token", data=_token_form(st))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "token_type"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == st.config.st_token_lifetime_s
    assert body["access_token"].count(".") == 2  # JWT-shaped


def test_token_endpoint_accepts_client_credentials_in_basic_auth(st: StSandbox) -> None:
    basic = base64.b64encode(f"{st.config.st_client_id}:{st.config.st_client_secret}".encode())
    response = st.client.post(
        "/connect/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic.decode()}"},
    )

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"client_secret": "wrong"}, "invalid_client"),
        ({"client_id": "someone-else"}, "invalid_client"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"client_secret": ""}, "invalid_request"),
    ],
)
def test_bad_token_requests_get_an_oauth_error_body(
    st: StSandbox, overrides: dict[str, str], error: str
) -> None:
    response = st.client.post("/connect/token", data=_token_form(st, **overrides))

    assert response.status_code == 400
    assert response.json()["error"] == error
    assert response.json()["error_description"]


def test_a_call_with_a_live_token_and_app_key_succeeds(st: StSandbox) -> None:
    assert st.get("settings", "business-units").status_code == 200


def test_missing_app_key_is_401_and_a_wrong_one_403(st: StSandbox) -> None:
    url = st.url("settings", "business-units")
    bearer = {"Authorization": f"Bearer {st.token}"}

    missing = st.client.get(url, headers=bearer)
    wrong = st.client.get(url, headers={**bearer, "ST-App-Key": "ak1.not-ours"})

    assert missing.status_code == 401
    assert set(missing.json()) == PROBLEM_KEYS
    assert wrong.status_code == 403
    assert set(wrong.json()) == PROBLEM_KEYS


def test_app_key_may_come_as_query_parameter(st: StSandbox) -> None:
    response = st.client.get(
        st.url("settings", "business-units"),
        params={"servicetitanapplicationkey": st.config.st_app_key},
        headers={"Authorization": f"Bearer {st.token}"},
    )

    assert response.status_code == 200


@pytest.mark.parametrize("authorization", [None, "Bearer", "Bearer not-a-token", "Basic abc"])
def test_missing_or_unknown_bearer_token_is_401_with_a_problem_body(
    st: StSandbox, authorization: str | None
) -> None:
    headers = {"ST-App-Key": st.config.st_app_key}
    if authorization:
        headers["Authorization"] = authorization

    response = st.client.get(st.url("settings", "business-units"), headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["status"] == 401


def test_expired_token_is_401() -> None:
    with st_sandbox(st_token_lifetime_s=1) as st:
        assert st.get("settings", "business-units").status_code == 200
        time.sleep(1.05)

        response = st.get("settings", "business-units")

    assert response.status_code == 401
    assert "expired" in response.json()["title"]


def test_fault_profile_revokes_tokens_early_and_a_new_token_works() -> None:
    with st_sandbox() as st:
        st.control("PUT", "faults", {"revoke_tokens_after_s": 0.2})
        time.sleep(0.25)
        revoked = st.get("settings", "business-units")
        st.token = fetch_token(st.client, st.config)
        fresh = st.get("settings", "business-units")

    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["title"]
    assert fresh.status_code == 200


def test_control_endpoint_revokes_every_token() -> None:
    with st_sandbox() as st:
        assert st.control("DELETE", "tokens")["revoked"] == 1

        assert st.get("settings", "business-units").status_code == 401


def test_another_tenant_is_403_and_a_non_numeric_tenant_404(st: StSandbox) -> None:
    other = st.client.get("/settings/v2/tenant/7654321/business-units", headers=st.headers)
    garbage = st.client.get("/settings/v2/tenant/acme/business-units", headers=st.headers)

    assert other.status_code == 403
    assert set(other.json()) == PROBLEM_KEYS
    assert garbage.status_code == 404
    assert set(garbage.json()) == PROBLEM_KEYS


def test_unknown_path_is_404_and_wrong_method_405_with_problem_bodies(st: StSandbox) -> None:
    unknown = st.get("inventory", "no-such-thing")
    wrong_method = st.call("DELETE", "inventory", "purchase-orders")

    assert unknown.status_code == 404
    assert set(unknown.json()) == PROBLEM_KEYS
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "GET, POST"


def test_rate_limit_answers_429_with_retry_after_and_a_problem_body() -> None:
    with st_sandbox(st_rate_per_s=5) as st:
        answers = [st.get("settings", "business-units") for _ in range(12)]

    limited = [r for r in answers if r.status_code == 429]
    assert limited, [r.status_code for r in answers]
    assert all(int(r.headers["retry-after"]) >= 1 for r in limited)
    assert limited[0].json()["status"] == 429
    assert set(limited[0].json()) == PROBLEM_KEYS


def test_rate_limit_buckets_are_per_tenant_and_spare_the_token_endpoint() -> None:
    with st_sandbox(st_rate_per_s=3) as st:
        own = [st.get("settings", "business-units").status_code for _ in range(6)]
        other_tenant = st.client.get(
            "/settings/v2/tenant/7654321/business-units", headers=st.headers
        )
        token = st.client.post(
            "/connect/token",
            data={
                "grant_type": "client_credentials",
                "client_id": st.config.st_client_id,
                "client_secret": st.config.st_client_secret,
            },
        )

    assert 429 in own
    assert other_tenant.status_code == 403  # its own bucket: refused for the tenant, not limited
    assert token.status_code == 200


def test_faulted_500_is_a_json_problem_and_control_endpoints_are_never_faulted() -> None:
    with st_sandbox() as st:
        st.control("PUT", "faults", {"rate_500": 1.0})
        response = st.get("settings", "business-units")
        control = st.client.get("/_sandbox/state")

    assert response.status_code == 500
    assert set(response.json()) == PROBLEM_KEYS
    assert control.status_code == 200
