"""The request engine and token provider against small misbehaving peers over real HTTP.

The sandbox cannot serve these bad answers (an HTML token page, a 200 that is
not JSON, pages that repeat, odd Retry-After values), so each test serves a
tiny Starlette app of its own on loopback.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connector_dagster.lib.errors import (
    AuthError,
    ErrorKind,
    OutcomeUnknownError,
    RejectedError,
    TransientError,
)
from connector_dagster.lib.http import HttpTransport, RetryPolicy, map_concurrent, parse_retry_after
from connector_dagster.lib.oauth import ClientCredentials, TokenProvider
from connector_dagster.lib.ratelimit import Rate, RateLimiter
from connector_dagster.sandbox.server import running
from connector_dagster.systems.ifs.client import IfsClient, IfsSettings
from connector_dagster.systems.servicetitan.client import (
    ServiceTitanClient,
    ServiceTitanSettings,
    money,
)

SECRET = "s3cret-value-never-shown"
HTML = "<!DOCTYPE html><html><body><h1>Sign in</h1></body></html>"

Handler = Callable[[Request], Response]


_serial = map(str, itertools.count())


def _token_ok(_: Request) -> Response:
    return JSONResponse({"access_token": "tok-" + next(_serial), "expires_in": 300})


@contextmanager
def peer(routes: dict[str, Handler], token: Handler = _token_ok) -> Iterator[str]:
    """Serve `routes` (path -> handler, any method) plus IFS and ST token endpoints."""
    table = [
        Route("/auth/realms/r/protocol/openid-connect/token", token, methods=["POST"]),
        Route("/connect/token", token, methods=["POST"]),
        *(
            Route(path, handler, methods=["GET", "POST", "PATCH", "DELETE"])
            for path, handler in routes.items()
        ),
    ]
    with running(Starlette(routes=table)) as url:
        yield url


def ifs(url: str, **overrides: Any) -> IfsClient:
    overrides.setdefault("set_keys", {"PurchaseOrderSet": ("OrderNo",)})
    return IfsClient(
        IfsSettings(base_url=url, realm="r", client_id="c", client_secret=SECRET, **overrides)
    )


def st(url: str, **overrides: Any) -> ServiceTitanClient:
    settings = ServiceTitanSettings(
        api_url=url,
        auth_url=f"{url}/connect/token",
        tenant_id="1234567",
        app_key="ak",
        client_id="c",
        client_secret=SECRET,
        **overrides,
    )
    return ServiceTitanClient(settings)


def engine(url: str, sleeps: list[float], **policy: Any) -> HttpTransport:
    return HttpTransport(
        base_url=url,
        label="peer",
        limiter=RateLimiter(Rate.per_second(1000)),
        retry=RetryPolicy(**policy),
        sleep=sleeps.append,
    )


def test_token_endpoint_answering_html_is_a_clear_auth_error() -> None:
    def html_login(_: Request) -> Response:
        return Response(HTML, media_type="text/html")

    with peer({}, token=html_login) as url, ifs(url) as client, pytest.raises(AuthError) as caught:
        client.get("PurchaseOrderHandling.svc/PurchaseOrderSet", {"OrderNo": "1"})
    message = str(caught.value)
    assert caught.value.kind is ErrorKind.AUTH
    assert "POST" in message and "/auth/realms/r/protocol/openid-connect/token" in message
    assert "text/html" in message
    assert SECRET not in message and SECRET not in repr(caught.value.to_record())


def test_refused_client_credentials_name_the_client_not_the_secret() -> None:
    def refuse(_: Request) -> Response:
        return JSONResponse({"error": "invalid_client"}, status_code=401)

    with peer({}, token=refuse) as url, st(url) as client, pytest.raises(AuthError) as caught:
        client.get("inventory", "vendors")
    assert "invalid_client" in str(caught.value) and "'c'" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_ok_with_a_body_that_is_not_json_names_the_request() -> None:
    created: list[int] = []

    def html_ok(request: Request) -> Response:
        if request.method == "POST":
            created.append(1)
        return Response(HTML, media_type="text/html")

    with peer({"/inventory/v2/tenant/1234567/vendors": html_ok}) as url, st(url) as client:
        with pytest.raises(TransientError) as read:
            client.get("inventory", "vendors", {"active": "Any"})
        with pytest.raises(OutcomeUnknownError) as write:
            client.create("inventory", "vendors", {"name": "X"})
    assert "GET " in str(read.value) and "/inventory/v2/tenant/1234567/vendors" in str(read.value)
    assert "not JSON" in str(read.value) and read.value.status == 200
    assert len(created) == 1 and "POST " in str(write.value)  # the write was not resent


def test_ifs_page_that_repeats_is_refused() -> None:
    def same_page(request: Request) -> Response:
        rows = [{"OrderNo": "1", "@odata.etag": 'W/"x"'}, {"OrderNo": "2", "@odata.etag": 'W/"y"'}]
        return JSONResponse({"value": rows})  # ignores $skip

    path = "/main/ifsapplications/projection/v1/P.svc/PurchaseOrderSet"
    with (
        peer({path: same_page}) as url,
        ifs(url, page_size=2) as client,
        pytest.raises(RejectedError) as caught,
    ):
        list(client.query("P.svc/PurchaseOrderSet"))
    assert "repeats an earlier page" in str(caught.value)
    assert "$skip=2" in caught.value.url


def test_ifs_next_link_that_loops_is_refused() -> None:
    counter = itertools.count()

    def looping(request: Request) -> Response:
        n = next(counter)
        session = f"{request.url.scheme}://{request.url.netloc}{request.url.path}?$skiptoken=1"
        return JSONResponse({"value": [{"OrderNo": str(n)}], "@odata.nextLink": session})

    path = "/main/ifsapplications/projection/v1/P.svc/PurchaseOrderSet"
    with (
        peer({path: looping}) as url,
        ifs(url, page_size=None) as client,
        pytest.raises(RejectedError, match="nextLink repeats"),
    ):
        list(client.query("P.svc/PurchaseOrderSet"))


def test_ifs_never_ending_paging_stops_at_max_pages() -> None:
    counter = itertools.count()

    def endless(request: Request) -> Response:
        n = next(counter)
        session = f"{request.url.scheme}://{request.url.netloc}{request.url.path}?$skiptoken={n}"
        return JSONResponse({"value": [{"OrderNo": str(n)}], "@odata.nextLink": session})

    path = "/main/ifsapplications/projection/v1/P.svc/PurchaseOrderSet"
    with (
        peer({path: endless}) as url,
        ifs(url, page_size=None, max_pages=20, rate_per_min=60000) as client,
    ):
        rows = []
        with pytest.raises(RejectedError, match="within 20 pages"):
            rows.extend(client.query("P.svc/PurchaseOrderSet"))
    assert len(rows) == 20


def test_servicetitan_page_that_repeats_is_refused() -> None:
    def same_page(_: Request) -> Response:
        return JSONResponse(
            {"page": 1, "pageSize": 2, "hasMore": True, "data": [{"id": 1}, {"id": 2}]}
        )

    with (
        peer({"/inventory/v2/tenant/1234567/vendors": same_page}) as url,
        st(url) as client,
        pytest.raises(RejectedError) as caught,
    ):
        list(client.iter_pages("inventory", "vendors"))
    assert "page 2 repeats" in str(caught.value)


def test_servicetitan_export_that_does_not_move_is_refused() -> None:
    def stuck(_: Request) -> Response:
        return JSONResponse({"hasMore": True, "continueFrom": "abc", "data": [{"id": 1}]})

    with (
        peer({"/jpm/v2/tenant/1234567/export/jobs": stuck}) as url,
        st(url) as client,
        pytest.raises(RejectedError, match="continueFrom did not move"),
    ):
        list(client.export("jpm", "jobs", "abc"))


def test_retry_after_in_the_past_waits_only_the_minimum() -> None:
    calls = itertools.count()

    def limited(_: Request) -> Response:
        if next(calls) == 0:
            return Response(
                status_code=429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}
            )
        return JSONResponse({"ok": True})

    sleeps: list[float] = []
    with peer({"/x": limited}) as url:
        reply = engine(url, sleeps, retry_after_min_s=0.05).request("GET", "/x")
    assert reply.data == {"ok": True}
    assert sleeps == [0.05]


def test_retry_after_absurdly_far_gives_up_as_transient() -> None:
    calls: list[int] = []

    def limited(_: Request) -> Response:
        calls.append(1)
        return Response(status_code=429, headers={"Retry-After": "31536000"})

    sleeps: list[float] = []
    with peer({"/x": limited}) as url, pytest.raises(TransientError) as caught:
        engine(url, sleeps, retry_after_max_s=60).request("GET", "/x")
    assert calls == [1] and sleeps == []
    assert "Retry-After" in str(caught.value) and "31536000" in str(caught.value)


def test_retry_after_is_honoured_and_server_errors_back_off_with_jitter() -> None:
    answers = iter([(429, {"Retry-After": "2"}), (503, {}), (500, {}), (200, {})])

    def flaky(_: Request) -> Response:
        status, headers = next(answers)
        return JSONResponse({"status": status}, status_code=status, headers=headers)

    sleeps: list[float] = []
    with peer({"/x": flaky}) as url:
        quick = engine(url, sleeps, backoff_initial_s=0.1, backoff_max_s=5, pause_all_on_429=False)
        quick.request("GET", "/x")
    assert sleeps[0] == 2.0
    assert len(sleeps) == 3 and all(0 <= s <= 5 for s in sleeps[1:])


def test_attempts_are_bounded_and_reported() -> None:
    def down(_: Request) -> Response:
        return JSONResponse({"title": "down"}, status_code=503)

    sleeps: list[float] = []
    with peer({"/x": down}) as url, pytest.raises(TransientError) as caught:
        engine(url, sleeps, max_attempts=3, backoff_initial_s=0.01).request("GET", "/x")
    assert caught.value.attempts == 3 and len(sleeps) == 2
    assert "after 3 attempts" in str(caught.value) and caught.value.body == {"title": "down"}


def test_a_401_fetches_a_new_token_once_and_auth_is_reapplied() -> None:
    seen: list[str] = []
    lock = threading.Lock()

    def first_token_revoked(request: Request) -> Response:
        token = request.headers.get("authorization", "")
        with lock:
            seen.append(token)
            first = seen[0]
        if token == first:
            return JSONResponse({"error": {"message": "Unauthorized"}}, status_code=401)
        return JSONResponse({"value": []})

    path = "/main/ifsapplications/projection/v1/P.svc/PurchaseOrderSet"
    with peer({path: first_token_revoked}) as url, ifs(url) as client:
        assert list(client.query("P.svc/PurchaseOrderSet")) == []
    assert len(seen) == 2 and seen[0] != seen[1]


def test_token_is_fetched_once_for_many_threads() -> None:
    fetches: list[int] = []
    gate = threading.Event()

    def slow_token(_: Request) -> Response:
        fetches.append(1)
        gate.wait(0.3)
        return JSONResponse({"access_token": "only-one", "expires_in": 300})

    with peer({}, token=slow_token) as url:
        provider = TokenProvider(ClientCredentials(f"{url}/connect/token", "c", SECRET))
        tokens = map_concurrent(lambda _: provider.token(), range(16), workers=16)
        provider.close()
    assert fetches == [1] and set(tokens) == {"only-one"}
    assert SECRET not in repr(provider) and SECRET not in repr(provider.credentials)


def test_tenant_id_with_a_path_is_rejected_before_any_request() -> None:
    for bad in ("123/../456", "123%2F456", "-1", "12 3", "١٢٣", ""):
        with pytest.raises(ValueError, match="digits only"):
            ServiceTitanSettings(
                api_url="http://127.0.0.1:9",
                auth_url="http://127.0.0.1:9/connect/token",
                tenant_id=bad,
                app_key="ak",
                client_id="c",
                client_secret=SECRET,
            )


def test_servicetitan_paths_refuse_traversal() -> None:
    with peer({}) as url, st(url) as client:
        assert client.path("inventory", "purchase-orders/12", {"active": "Any"}) == (
            "/inventory/v2/tenant/1234567/purchase-orders/12?active=Any"
        )
        for bad in ("../../other", "purchase-orders/..", "a?b=1"):
            with pytest.raises(ValueError, match="unsafe path segment"):
                client.path("inventory", bad)


def test_retry_after_parsing() -> None:
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_money_is_decimal_from_strings_and_numbers() -> None:
    assert money("273.13") == Decimal("273.13")
    assert money(Decimal("2.35")) + money("0.10") == Decimal("2.45")
    assert money(2.35) == Decimal("2.35")
    assert money(12) == Decimal(12)
    for bad in ("12,50", "", None, True, "NaN"):
        with pytest.raises(ValueError):
            money(bad)  # type: ignore[arg-type]


class _FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_rate_limiter_spaces_requests_and_pauses_on_defer() -> None:
    clock = _FakeClock()
    limiter = RateLimiter(Rate.per_minute(600), clock=clock, sleep=clock.sleep)
    start = clock.now
    for _ in range(50):
        limiter.acquire()
    assert clock.now - start == pytest.approx(4.9)  # 10/s: 50 slots, first one free
    limiter.defer(3.0)
    before = clock.now
    limiter.acquire()
    assert clock.now - before == pytest.approx(3.0)


def test_rate_limiter_burst_allows_that_many_back_to_back() -> None:
    clock = _FakeClock()
    limiter = RateLimiter(Rate.per_second(10, burst=5), clock=clock, sleep=clock.sleep)
    waits = [limiter.acquire() for _ in range(7)]
    assert waits[:5] == [0, 0, 0, 0, 0] and waits[5] == pytest.approx(0.1)
