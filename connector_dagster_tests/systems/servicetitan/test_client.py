"""The ServiceTitan client against the ServiceTitan simulator over real HTTP."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from connector_dagster.lib.errors import AuthError, OutcomeUnknownError
from connector_dagster.sandbox import world
from connector_dagster.sandbox.faults import FaultProfile
from connector_dagster.sandbox.server import SandboxConfig, SandboxProcess
from connector_dagster.systems.servicetitan.client import (
    ServiceTitanClient,
    ServiceTitanSettings,
    money,
)
from connector_dagster_tests.conftest import SANDBOX_CLOCK

RATE = 400.0  # requests per second, sandbox and client, so tests are not paced by 60/s
TOKEN_LIFETIME_S = 2


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    config = SandboxConfig(
        ifs_port=0,
        st_port=0,
        st_token_lifetime_s=TOKEN_LIFETIME_S,
        st_rate_per_s=RATE,
        now=SANDBOX_CLOCK,
    )
    with SandboxProcess(config) as process:
        yield process


@pytest.fixture
def control(sandbox: SandboxProcess) -> Iterator[httpx.Client]:
    """The simulator's /_sandbox/ endpoints; faults are cleared after each test."""
    with httpx.Client(base_url=sandbox.info["servicetitan"]["api_url"], timeout=30) as http:
        http.delete("/_sandbox/requests")
        yield http
        faults(http)


def settings(sandbox: SandboxProcess, **overrides: Any) -> ServiceTitanSettings:
    st = sandbox.info["servicetitan"]
    values: dict[str, Any] = {
        "api_url": st["api_url"],
        "auth_url": st["auth_url"],
        "tenant_id": st["tenant_id"],
        "app_key": st["app_key"],
        "client_id": st["client_id"],
        "client_secret": st["client_secret"],
        "rate_per_s": RATE,
        **overrides,
    }
    return ServiceTitanSettings(**values)


@pytest.fixture
def client(sandbox: SandboxProcess) -> Iterator[ServiceTitanClient]:
    with ServiceTitanClient(settings(sandbox)) as c:
        yield c


def faults(control: httpx.Client, **rates: Any) -> None:
    control.put("/_sandbox/faults", json=FaultProfile(**rates).to_dict()).raise_for_status()


def counts(control: httpx.Client, route_part: str = "") -> dict[tuple[str, int], int]:
    """Requests seen by the simulator, by (method, status), for routes containing route_part."""
    out: dict[tuple[str, int], int] = {}
    for row in control.get("/_sandbox/requests").json():
        if route_part in row["route"]:
            key = (row["method"], row["status"])
            out[key] = out.get(key, 0) + row["count"]
    return out


def po_body(memo: str) -> dict[str, Any]:
    region, part, vendor = world.REGIONS[0], world.PARTS[0], world.VENDORS[0]
    return {
        "vendorId": vendor.st_vendor_id,
        "typeId": world.PO_TYPES[0][0],
        "businessUnitId": region.st_business_unit_id,
        "inventoryLocationId": region.st_warehouse_id,
        "shipTo": {
            "description": "Main warehouse",
            "address": {
                "street": region.street,
                "unit": "",
                "city": region.city,
                "state": region.state,
                "zip": region.zip,
                "country": "USA",
            },
        },
        "impactsTechnicianPayroll": False,
        "memo": memo,
        "date": "2026-10-05T00:00:00Z",
        "requiredOn": "2026-10-12T00:00:00Z",
        "tax": Decimal("1.25"),
        "shipping": 0,
        "items": [
            {
                "skuId": part.st_sku_id,
                "description": part.description,
                "vendorPartNumber": part.ifs_part_no,
                "quantity": 3,
                "cost": part.unit_price,
            }
        ],
    }


def test_thousands_of_requests_across_token_lifetimes_never_fail_on_expiry(
    client: ServiceTitanClient, control: httpx.Client
) -> None:
    ids = [po["id"] for po in control.get("/_sandbox/entities/purchase-orders").json()]
    tokens = client.transport.tokens
    assert tokens is not None
    fetches_before = tokens.fetches
    started = datetime.now(UTC)

    def read(i: int) -> int:
        return client.get("inventory", f"purchase-orders/{ids[i % len(ids)]}")["id"]

    results = client.map_concurrent(read, range(2500))
    elapsed = (datetime.now(UTC) - started).total_seconds()
    assert len(results) == 2500 and all(isinstance(r, int) for r in results)
    seen = counts(control, "purchase-orders")
    assert seen.get(("GET", 200)) == 2500
    assert seen.get(("GET", 401), 0) == 0 and seen.get(("GET", 429), 0) == 0
    lifetimes = elapsed / TOKEN_LIFETIME_S
    assert lifetimes >= 2 and tokens.fetches - fetches_before >= lifetimes


def test_revoked_token_is_fetched_again_once(
    client: ServiceTitanClient, control: httpx.Client
) -> None:
    """Reads go on until the simulator has refused a revoked token (on a fast machine
    a token may serve many reads within its 0.2 s; on a busy one, few): each such read
    was answered after one new token."""
    faults(control, revoke_tokens_after_s=0.2)
    deadline = time.monotonic() + 120
    rows: list[Any] = []
    while counts(control, "vendors").get(("GET", 401), 0) == 0:
        assert time.monotonic() < deadline, "no token was revoked in 120 s"
        rows += [client.get("inventory", "vendors", {"pageSize": 5}) for _ in range(10)]
    assert rows and all(r["data"] for r in rows)
    seen = counts(control, "vendors")
    assert seen[("GET", 200)] == len(rows), seen  # every refused read answered once retried


def test_inactive_records_are_read_only_with_active_any(client: ServiceTitanClient) -> None:
    active = {v["name"] for v in client.iter_pages("inventory", "vendors")}
    every = {v["name"] for v in client.iter_pages("inventory", "vendors", {"active": "Any"})}
    inactive = {v.name for v in world.VENDORS if not v.active}
    assert inactive and not inactive & active and inactive <= every


def test_page_envelope_is_read_to_the_end(
    client: ServiceTitanClient, control: httpx.Client
) -> None:
    stored = {po["id"] for po in control.get("/_sandbox/entities/purchase-orders").json()}
    read = [po["id"] for po in client.iter_pages("inventory", "purchase-orders", page_size=37)]
    assert len(read) == len(set(read)) and set(read) == stored
    assert counts(control, "purchase-orders")[("GET", 200)] == -(-len(stored) // 37)


def test_pages_read_concurrently_give_every_row_once_in_page_order(
    client: ServiceTitanClient, control: httpx.Client
) -> None:
    """The first page's total says how many pages follow; each is read once and
    given to the function, whose results come back in page order."""
    one_by_one = [po["id"] for po in client.iter_pages("inventory", "purchase-orders")]
    control.delete("/_sandbox/requests")
    pages = client.map_pages(
        "inventory", "purchase-orders", {}, lambda rows: [r["id"] for r in rows], page_size=37
    )
    assert [i for page in pages for i in page] == one_by_one
    assert all(len(page) == 37 for page in pages[:-1])
    assert (
        counts(control, "purchase-orders")[("GET", 200)] == len(pages) == -(-len(one_by_one) // 37)
    )


def test_ids_are_asked_for_fifty_at_a_time(
    client: ServiceTitanClient, control: httpx.Client
) -> None:
    stored = [po["id"] for po in control.get("/_sandbox/entities/purchase-orders").json()]
    wanted = [*stored[:120], 999_999_001, 999_999_002]
    rows = client.get_by_ids("inventory", "purchase-orders", wanted)
    assert sorted(r["id"] for r in rows) == sorted(stored[:120])
    assert counts(control, "purchase-orders")[("GET", 200)] == 3


def test_export_continues_from_the_stored_token(client: ServiceTitanClient) -> None:
    token = None
    everything: dict[int, dict[str, Any]] = {}
    for page in client.export("inventory", "purchase-orders"):
        everything.update((row["id"], row) for row in page.rows)
        token = page.continue_from
    assert everything and token
    created = client.create("inventory", "purchase-orders", po_body(f"EXPORT-{uuid.uuid4()}"))
    later = [
        row for page in client.export("inventory", "purchase-orders", token) for row in page.rows
    ]
    assert created["id"] in {row["id"] for row in later}
    assert len(later) < len(everything)


def test_money_is_read_as_decimal(client: ServiceTitanClient) -> None:
    invoices = list(client.iter_pages("accounting", "invoices", {"pageSize": 50}))[:50]
    assert invoices
    for invoice in invoices:
        total = money(invoice["total"])
        assert isinstance(total, Decimal) and f"{total}" == invoice["total"]
    po = next(client.iter_pages("inventory", "purchase-orders"))
    assert isinstance(money(po["total"]), Decimal)


@pytest.mark.parametrize("fault", ["rate_reset", "rate_timeout"])
def test_create_whose_answer_is_lost_is_not_duplicated(
    sandbox: SandboxProcess, control: httpx.Client, fault: str
) -> None:
    memo = f"LOST-{uuid.uuid4().hex[:8]}"
    intent = datetime.now(UTC) - timedelta(minutes=5)
    with ServiceTitanClient(settings(sandbox, timeout_s=0.5)) as client:
        client.get("inventory", "vendors")  # a token first: faults hit the token POST too
        faults(control, methods=["POST"], timeout_s=3.0, **{fault: 1.0})
        with pytest.raises(OutcomeUnknownError) as caught:
            client.create("inventory", "purchase-orders", po_body(memo))
        assert "POST" in str(caught.value) and caught.value.kind == "outcome_unknown"
        faults(control)
        found = [
            po
            for po in client.iter_pages(
                "inventory", "purchase-orders", {"createdOnOrAfter": intent}
            )
            if po["summary"] == memo
        ]
    every = control.get("/_sandbox/entities/purchase-orders").json()
    stored = [po for po in every if po["summary"] == memo]
    assert len(found) == 1 == len(stored)


def test_a_wrong_app_key_is_an_auth_error(sandbox: SandboxProcess) -> None:
    with (
        ServiceTitanClient(settings(sandbox, app_key="ak1.not-ours")) as client,
        pytest.raises(AuthError) as caught,
    ):
        client.get("inventory", "vendors")
    assert caught.value.status == 403 and "ak1.not-ours" not in str(caught.value)
