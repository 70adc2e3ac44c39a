"""The IFS client against the IFS simulator over real HTTP: paging, ETags, 412s, lost writes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from connector_dagster.lib.errors import (
    ConflictError,
    NotFoundError,
    OutcomeUnknownError,
    RejectedError,
)
from connector_dagster.sandbox import world
from connector_dagster.sandbox.faults import FaultProfile
from connector_dagster.sandbox.server import SandboxConfig, SandboxProcess
from connector_dagster.systems.ifs import odata
from connector_dagster.systems.ifs.client import IfsClient, IfsSettings, Row, refusal
from connector_dagster_tests.conftest import SANDBOX_CLOCK

POS = "PurchaseOrderHandling.svc/PurchaseOrderSet"
VOUCHERS = "ExternalVoucherHandling.svc/ExternalVoucherSet"
FAST = 60_000.0  # requests per minute, so that tests are not paced by the real 1,000/min


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    config = SandboxConfig(
        ifs_port=0,
        st_port=0,
        ifs_token_lifetime_s=2,
        ifs_rate_per_min=FAST,
        ifs_page_size=50,
        now=SANDBOX_CLOCK,
    )
    with SandboxProcess(config) as process:
        yield process


@pytest.fixture
def control(sandbox: SandboxProcess) -> Iterator[httpx.Client]:
    """The simulator's /_sandbox/ endpoints; faults are cleared after each test."""
    with httpx.Client(base_url=sandbox.info["ifs"]["base_url"], timeout=30) as http:
        http.delete("/_sandbox/requests")
        yield http
        faults(http)


def settings(sandbox: SandboxProcess, **overrides: Any) -> IfsSettings:
    ifs = sandbox.info["ifs"]
    values: dict[str, Any] = {
        "base_url": ifs["base_url"],
        "realm": ifs["realm"],
        "client_id": ifs["client_id"],
        "client_secret": ifs["client_secret"],
        "rate_per_min": FAST,
        "page_size": 40,
        "set_keys": {"PurchaseOrderSet": ("OrderNo",), "ExternalVoucherSet": ("Company", "LoadId")},
        **overrides,
    }
    return IfsSettings(**values)


@pytest.fixture
def client(sandbox: SandboxProcess) -> Iterator[IfsClient]:
    with IfsClient(settings(sandbox)) as c:
        yield c


def faults(control: httpx.Client, **rates: Any) -> None:
    control.put("/_sandbox/faults", json=FaultProfile(**rates).to_dict()).raise_for_status()


def count(control: httpx.Client, method: str, route_part: str, status: int | None = None) -> int:
    return sum(
        row["count"]
        for row in control.get("/_sandbox/requests").json()
        if row["method"] == method
        and route_part in row["route"]
        and (status is None or row["status"] == status)
    )


def stored(control: httpx.Client, set_name: str, **where: str) -> list[dict[str, Any]]:
    return control.get(f"/_sandbox/entities/{set_name}", params=where).json()["value"]


def voucher(reference: str, **extra: Any) -> dict[str, Any]:
    return {
        "Company": world.COMPANY,
        "VoucherDate": "2026-10-05",
        "VoucherType": "A",
        "Text": "client test",
        "Reference": reference,
        **extra,
    }


def test_paging_by_next_link_and_by_top_skip_reads_every_row_once(
    sandbox: SandboxProcess, control: httpx.Client, client: IfsClient
) -> None:
    expected = sorted(r["OrderNo"] for r in stored(control, "PurchaseOrderSet"))
    by_skip = [r["OrderNo"] for r in client.query(POS)]
    with IfsClient(settings(sandbox, page_size=None)) as server_paged:
        by_link = [r["OrderNo"] for r in server_paged.query(POS)]
    assert sorted(by_skip) == sorted(by_link) == expected
    assert len(set(by_skip)) == len(expected) > 100
    assert (
        count(control, "GET", "PurchaseOrderSet", 200) >= len(expected) // 40 + len(expected) // 50
    )


def test_filtered_query_with_enum_date_and_top(client: IfsClient, control: httpx.Client) -> None:
    state = odata.enum("IfsApp.PurchaseOrderHandling.PurchaseOrderState", "Released")
    flt = odata.and_(odata.eq("Objstate", state), odata.ge("OrderDate", date(2026, 1, 1)))
    rows = list(client.query(POS, filter=flt, select=["OrderNo", "Objstate"], top=45))
    assert 0 < len(rows) <= 45
    assert all(r["Objstate"] == "Released" for r in rows)
    assert all(r.etag and r.etag.startswith('W/"') for r in rows)


def test_rows_keep_their_etag_and_get_by_key_returns_the_same(client: IfsClient) -> None:
    first = next(client.query(POS))
    again = client.get(POS, {"OrderNo": first["OrderNo"]})
    assert isinstance(again, Row) and again.etag == first.etag


def test_concurrent_edit_412_is_reread_and_reapplied(
    client: IfsClient, control: httpx.Client
) -> None:
    order_no = next(client.query(POS, top=1))["OrderNo"]
    seen: list[str | None] = []

    def apply(row: Row) -> dict[str, Any]:
        seen.append(row.get("NoteText"))
        if len(seen) == 1:  # an IFS user saves the order between our read and our write
            edit = {"set": "PurchaseOrderSet", "key": {"OrderNo": order_no}}
            control.post("/_sandbox/edit", json={**edit, "changes": {"NoteText": "user edit"}})
        return {"Reference": "SYNCED-412"}

    written = client.update(POS, {"OrderNo": order_no}, apply)
    final = stored(control, "PurchaseOrderSet", OrderNo=order_no)[0]
    assert final["Reference"] == "SYNCED-412" and final["NoteText"] == "user edit"
    assert seen[1] == "user edit"  # the change was re-applied to the re-read row
    assert written.etag == final["@odata.etag"]
    assert count(control, "PATCH", "PurchaseOrderSet(key)", 412) == 1


def test_stale_etag_on_every_write_ends_as_a_conflict(
    client: IfsClient, control: httpx.Client
) -> None:
    order_no = next(client.query(POS, top=1))["OrderNo"]
    faults(control, rate_stale_etag=1.0)
    with pytest.raises(ConflictError) as caught:
        client.update(POS, {"OrderNo": order_no}, lambda row: {"Reference": "NEVER"})
    assert "PATCH" in str(caught.value) and caught.value.status == 412
    attempts = client.settings.etag_retries + 1
    assert count(control, "PATCH", "PurchaseOrderSet(key)", 412) == attempts
    assert stored(control, "PurchaseOrderSet", OrderNo=order_no)[0]["Reference"] != "NEVER"


def test_update_that_changes_nothing_sends_no_patch(
    client: IfsClient, control: httpx.Client
) -> None:
    row = next(client.query(POS, top=1))
    client.update(POS, {"OrderNo": row["OrderNo"]}, lambda r: {"Contract": r["Contract"]})
    assert count(control, "PATCH", "PurchaseOrderSet") == 0


@pytest.mark.parametrize("fault", ["rate_reset", "rate_timeout"])
def test_create_whose_answer_is_lost_is_not_resent(
    sandbox: SandboxProcess, control: httpx.Client, fault: str
) -> None:
    reference = f"LOST-{uuid.uuid4().hex[:8]}"
    with IfsClient(settings(sandbox, timeout_s=0.5)) as client:
        next(client.query(POS, top=1))  # a token first: faults hit the token POST too
        faults(control, methods=["POST"], timeout_s=3.0, **{fault: 1.0})
        with pytest.raises(OutcomeUnknownError) as caught:
            client.create(VOUCHERS, voucher(reference))
        assert "POST" in str(caught.value) and "/int/" in caught.value.url
        faults(control)
        found = list(
            client.query(
                VOUCHERS,
                filter=odata.and_(
                    odata.eq("Company", world.COMPANY), odata.eq("Reference", reference)
                ),
            )
        )
    assert len(found) == 1 == len(stored(control, "ExternalVoucherSet", Reference=reference))


def test_keys_with_quotes_parentheses_and_non_ascii(
    client: IfsClient, control: httpx.Client
) -> None:
    load_id = f"L'O){uuid.uuid4().hex[:4]} Ñé/ü"
    keys = {"Company": world.COMPANY, "LoadId": load_id}
    created = client.create(VOUCHERS, voucher("AWKWARD", LoadId=load_id))
    assert created["LoadId"] == load_id and created.etag
    assert client.get(VOUCHERS, keys)["LoadId"] == load_id
    client.update(VOUCHERS, keys, lambda row: {"Text": "ünïcode 'quoted' (text)"})
    assert stored(control, "ExternalVoucherSet", LoadId=load_id)[0]["Text"] == (
        "ünïcode 'quoted' (text)"
    )
    existing = client.exists_by_keys(
        VOUCHERS,
        "LoadId",
        [load_id, "nope'", "Ü)", "a%27b"],
        filter=odata.eq("Company", world.COMPANY),
    )
    assert existing == {load_id}
    assert client.delete(VOUCHERS, keys) is True
    assert client.delete(VOUCHERS, keys) is False
    with pytest.raises(NotFoundError):
        client.get(VOUCHERS, keys)


def test_existence_lookup_is_one_request_per_chunk_within_the_url_budget(
    sandbox: SandboxProcess, control: httpx.Client
) -> None:
    order_nos = [r["OrderNo"] for r in stored(control, "PurchaseOrderSet")][:120]
    missing = [f"MISSING-{i}'Ñ" for i in range(30)]
    control.delete("/_sandbox/requests")
    with IfsClient(settings(sandbox, max_url_length=1500)) as client:
        found = client.exists_by_keys(POS, "OrderNo", order_nos + missing)
    assert found == set(order_nos)
    requests = count(control, "GET", "PurchaseOrderSet", 200)
    assert 2 <= requests <= 30  # chunked, but far fewer requests than keys


def test_failed_reads_are_retried_to_the_same_answer(
    client: IfsClient, control: httpx.Client
) -> None:
    expected = sorted(r["OrderNo"] for r in stored(control, "PurchaseOrderSet"))
    faults(control, rate_500=0.15, rate_html=0.1, rate_reset=0.1, rate_429=0.05, seed=3)
    assert sorted(r["OrderNo"] for r in client.query(POS)) == expected
    assert count(control, "GET", "PurchaseOrderSet", 500) > 0
    assert count(control, "GET", "PurchaseOrderSet", 502) > 0


def test_revoked_tokens_are_refetched_after_a_401(client: IfsClient, control: httpx.Client) -> None:
    faults(control, revoke_tokens_after_s=0.3)
    expected = [r["OrderNo"] for r in client.query(POS)]
    time.sleep(0.4)  # the cached token is now revoked, though not yet due for refresh
    assert [r["OrderNo"] for r in client.query(POS)] == expected
    assert count(control, "GET", "PurchaseOrderSet", 401) >= 1


def test_writes_on_main_are_refused_with_the_api_error_body(
    sandbox: SandboxProcess, control: httpx.Client
) -> None:
    with (
        IfsClient(settings(sandbox, write_tier="main")) as client,
        pytest.raises(RejectedError) as caught,
    ):
        client.create(VOUCHERS, voucher("CSRF"))
    assert caught.value.status == 403 and caught.value.body["error"]["code"] == "CSRF_ERROR"
    assert "/main/" in caught.value.url


def test_invalid_create_is_rejected_with_ifs_message(client: IfsClient) -> None:
    with pytest.raises(RejectedError) as caught:
        client.create(VOUCHERS, {"Company": world.COMPANY, "Text": "no date"})
    assert "DATABASE_ERROR" in str(caught.value) and "mandatory" in str(caught.value)


def test_a_taken_key_is_a_conflict_that_names_its_ifs_error(client: IfsClient) -> None:
    created = client.create(VOUCHERS, voucher("KEY-TAKEN"))
    with pytest.raises(ConflictError) as caught:
        client.create(VOUCHERS, voucher("KEY-TAKEN", LoadId=created["LoadId"]))
    taken = refusal(caught.value)
    assert taken is not None and taken.reason == "duplicate"
