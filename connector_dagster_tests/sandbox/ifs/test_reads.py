"""The IFS simulator over real HTTP: tokens, URLs, entity reads and OData query options."""

from __future__ import annotations

import json
import re
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest

from connector_dagster.sandbox.faults import FaultProfile
from connector_dagster.sandbox.ifs import app as ifs
from connector_dagster.sandbox.server import running
from connector_dagster_tests.sandbox.ifs.support import (
    PO,
    PP,
    RELEASED,
    SECRET,
    TOKEN_URL,
    Ifs,
    decode_etag,
    iter_pages,
    make_config,
)


@pytest.fixture
def base_url(http: httpx.Client) -> str:
    return str(http.base_url).rstrip("/")


# -- token endpoint ----------------------------------------------------------------------------


def test_token_has_keycloak_fields_and_configured_lifetime(http: httpx.Client) -> None:
    response = http.post(
        TOKEN_URL,
        data={
            "grant_type": "client_credentials",
            "client_id": "CONNECTOR_SVC",
            "client_secret": SECRET,
            "scope": "openid microprofile-jwt",
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["expires_in"] == 180
    assert body["token_type"] == "Bearer"
    assert body["not-before-policy"] == 0
    assert "microprofile-jwt" in body["scope"]
    for name in ("access_token", "refresh_expires_in", "refresh_token", "session_state"):
        assert body[name]


def test_token_accepts_http_basic_client_auth(http: httpx.Client) -> None:
    response = http.post(
        TOKEN_URL,
        data={"grant_type": "client_credentials"},
        auth=("CONNECTOR_SVC", SECRET),
    )
    assert response.status_code == 200
    assert response.json()["access_token"]


def test_bad_client_secret_is_401_unauthorized_client(http: httpx.Client) -> None:
    response = http.post(
        TOKEN_URL,
        data={
            "grant_type": "client_credentials",
            "client_id": "CONNECTOR_SVC",
            "client_secret": "x",
        },
    )
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized_client"
    assert response.json()["error_description"]


def test_wrong_realm_is_404(http: httpx.Client) -> None:
    response = http.post(
        "/auth/realms/other/protocol/openid-connect/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "CONNECTOR_SVC",
            "client_secret": SECRET,
        },
    )
    assert response.status_code == 404


def test_missing_or_unknown_grant_type_is_400(http: httpx.Client) -> None:
    creds = {"client_id": "CONNECTOR_SVC", "client_secret": SECRET}
    missing = http.post(TOKEN_URL, data=creds)
    unknown = http.post(TOKEN_URL, data={**creds, "grant_type": "password"})
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")
    assert (unknown.status_code, unknown.json()["error"]) == (400, "unsupported_grant_type")


def test_refresh_token_grant_issues_a_new_access_token(client: Ifs) -> None:
    first = client.http.post(
        TOKEN_URL,
        data={
            "grant_type": "client_credentials",
            "client_id": "CONNECTOR_SVC",
            "client_secret": SECRET,
        },
    ).json()
    refreshed = client.http.post(
        TOKEN_URL,
        data={
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": "CONNECTOR_SVC",
            "client_secret": SECRET,
        },
    )
    assert refreshed.status_code == 200
    assert refreshed.json()["access_token"] != first["access_token"]


def test_discovery_document_points_at_the_token_endpoint(http: httpx.Client, base_url: str) -> None:
    body = http.get("/auth/realms/acme1/.well-known/openid-configuration").json()
    assert body["token_endpoint"] == base_url + TOKEN_URL


@pytest.mark.parametrize(
    "authorization", [None, "Bearer not-a-token", "Basic Q09OTkVDVE9SX1NWQzp4"]
)
def test_missing_or_unknown_token_is_401_with_ifs_body(
    http: httpx.Client, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = http.get(f"{PO}/PurchaseOrderSet", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": {"message": "Unauthorized"}}


def test_expired_token_is_401() -> None:
    app = ifs.create_app(make_config(ifs_token_lifetime_s=1), FaultProfile())
    with running(app) as url, httpx.Client(base_url=url) as http:
        client = Ifs(http)
        assert client.get(f"{PO}/PurchaseOrderSet?$top=1").status_code == 200
        time.sleep(1.1)
        assert client.get(f"{PO}/PurchaseOrderSet?$top=1").status_code == 401


def test_revoke_tokens_after_s_revokes_tokens_early(client: Ifs) -> None:
    client.http.put("/_sandbox/faults", json={"revoke_tokens_after_s": 0.3})
    assert client.get(f"{PO}/PurchaseOrderSet?$top=1").status_code == 200
    time.sleep(0.4)
    assert client.get(f"{PO}/PurchaseOrderSet?$top=1").status_code == 401


# -- URLs, entities, ETags ---------------------------------------------------------------------


def test_service_document_lists_the_entity_sets(client: Ifs) -> None:
    for path in (f"{PO}/", PO):
        names = [s["name"] for s in client.rows(path)]
        assert names == ["PurchaseOrderSet", "PurchaseOrderLineSet"]


def test_metadata_declares_keys_and_the_qualified_enum(client: Ifs) -> None:
    response = client.get(f"{PO}/$metadata")
    assert response.status_code == 200
    assert 'Namespace="IfsApp.PurchaseOrderHandling"' in response.text
    assert '<EnumType Name="PurchaseOrderState"' in response.text
    assert '<PropertyRef Name="OrderNo"/>' in response.text


def test_unknown_projection_is_404_mi_metadata_notfound(client: Ifs) -> None:
    response = client.get("/main/ifsapplications/projection/v1/NoSuchHandling.svc/XSet")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "MI_METADATA_NOTFOUND"


@pytest.mark.parametrize(
    "path",
    [
        f"{PO}/NoSuchSet",
        f"{PO}/PurchaseOrderSet(OrderNo='PO-0000-00000')",
        f"{PO}/PurchaseOrderSet(OrderNo='PO-2026-00001')/Nowhere",
    ],
)
def test_unknown_set_or_key_is_404_odp_resource_notfound(client: Ifs, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ODP_RESOURCE_NOTFOUND"


def test_tiers_serve_the_same_projection(client: Ifs) -> None:
    for tier in ("main", "int", "b2b"):
        path = f"/{tier}/ifsapplications/projection/v1/PurchaseOrderHandling.svc/PurchaseOrderSet"
        assert len(client.rows(path + "?$top=3")) == 3


def test_entity_service_serves_every_po_line_on_int_only(client: Ifs) -> None:
    entity = "/ifsapplications/entity/v1/PurchaseOrderLineEntity.svc/PurchaseOrderLineSet"
    lines = client.rows(f"/int{entity}?$filter=PartNo eq null")
    assert lines and all(line["PartNo"] is None for line in lines)
    total = len(client.raw("PurchaseOrderLineSet"))
    assert sum(1 for _ in iter_pages(client, f"/int{entity}")) == total
    assert client.get(f"/main{entity}").status_code == 404


def test_read_by_key_returns_the_entity_with_its_etag_header(client: Ifs) -> None:
    response = client.get(f"{PO}/PurchaseOrderSet(OrderNo='PO-2026-00042')")
    assert response.status_code == 200
    body = response.json()
    assert body["OrderNo"] == "PO-2026-00042"
    assert body["@odata.context"].endswith(
        "/PurchaseOrderHandling.svc/$metadata#PurchaseOrderSet/$entity"
    )
    assert response.headers["ETag"] == body["@odata.etag"]
    assert response.headers["content-type"].startswith("application/json;odata.metadata=minimal")


def test_etag_is_base64_of_rowid_and_objversion(client: Ifs) -> None:
    row = client.rows(f"{PO}/PurchaseOrderSet?$top=1")[0]
    m = re.fullmatch(r'W/"([A-Za-z0-9+/]{18}):(\d{14})"', decode_etag(row["@odata.etag"]))
    assert m is not None
    assert (m.group(1), m.group(2)) == (row["Objid"], row["Objversion"])


def test_rows_carry_luname_keyref_and_objgrants(client: Ifs) -> None:
    line = client.rows(f"{PO}/PurchaseOrderLineSet?$top=1")[0]
    assert line["luname"] == "PurchaseOrderLine"
    assert line["keyref"] == (
        f"ORDER_NO={line['OrderNo']}^LINE_NO={line['LineNo']}^RELEASE_NO={line['ReleaseNo']}^"
    )
    assert "Objgrants" in line and line["Objkey"]


@pytest.mark.parametrize(
    ("predicate", "order_no"),
    [
        ("(OrderNo='PO-O''NEIL-7')", "PO-O'NEIL-7"),
        ("('PO-O''NEIL-7')", "PO-O'NEIL-7"),
        ("(OrderNo='PO-%C3%9C-12')", "PO-Ü-12"),
        ("(OrderNo='PO-Ü-12')", "PO-Ü-12"),
    ],
)
def test_keys_with_quotes_and_unicode_are_found(client: Ifs, predicate: str, order_no: str) -> None:
    response = client.get(f"{PO}/PurchaseOrderSet{predicate}")
    assert response.status_code == 200, response.text
    assert response.json()["OrderNo"] == order_no


def test_composite_keys_take_numbers_unquoted(client: Ifs) -> None:
    path = f"{PP}/PostingProposalLineSet(Company='ACME01',ProposalId=100001,RowNo=1)"
    response = client.get(path)
    assert response.status_code == 200
    assert (response.json()["ProposalId"], response.json()["RowNo"]) == (100001, 1)
    quoted = client.get(f"{PP}/PostingProposalSet(Company='ACME01',ProposalId='100001')")
    assert quoted.status_code == 400


def test_composite_string_keys_of_po_lines(client: Ifs) -> None:
    path = f"{PO}/PurchaseOrderLineSet(OrderNo='PO-Ü-12',LineNo='2',ReleaseNo='1')"
    line = client.get(path).json()
    assert Decimal(str(line["BuyUnitPrice"])) < 0  # the credit line


def test_decimals_are_numbers_or_strings_with_ieee754compatible(client: Ifs) -> None:
    path = f"{PP}/PostingProposalLineSet?$top=1"
    plain = client.rows(path)[0]
    accept = "application/json;odata.metadata=minimal;IEEE754Compatible=true"
    response = client.get(path, Accept=accept)
    strings = response.json()["value"][0]
    assert isinstance(plain["ProposalId"], int)
    assert isinstance(strings["ProposalId"], str)
    assert Decimal(strings["CurrencyDebetAmount"] or strings["CurrencyCreditAmount"]) > 0
    assert "IEEE754Compatible=true" in response.headers["content-type"]


def test_full_metadata_adds_type_and_id(client: Ifs) -> None:
    row = client.get(
        f"{PO}/PurchaseOrderSet?$top=1", Accept="application/json;odata.metadata=full"
    ).json()["value"][0]
    assert row["@odata.type"] == "#IfsApp.PurchaseOrderHandling.PurchaseOrder"
    assert row["@odata.id"] == f"PurchaseOrderSet(OrderNo='{row['OrderNo']}')"


# -- $filter -----------------------------------------------------------------------------------


def test_enum_filter_needs_the_qualified_literal(client: Ifs) -> None:
    released = list(iter_pages(client, f"{PO}/PurchaseOrderSet?$filter=Objstate eq {RELEASED}"))
    expected = [r for r in client.raw("PurchaseOrderSet") if r["Objstate"] == "Released"]
    assert len(released) == len(expected) > 0
    bare = client.get(f"{PO}/PurchaseOrderSet?$filter=Objstate eq 'Released'")
    assert bare.status_code == 400
    assert bare.json()["error"]["details"][0]["code"] == "TYPES_NOT_COMPATIBLE"


def test_enum_literal_of_another_type_or_member_is_400(client: Ifs) -> None:
    for literal in (
        "IfsApp.CustomerOrderHandling.CustomerOrderState'Released'",
        "IfsApp.PurchaseOrderHandling.PurchaseOrderState'Shipped'",
    ):
        response = client.get(f"{PO}/PurchaseOrderSet?$filter=Objstate eq {literal}")
        assert response.status_code == 400


LINE_FILTERS = [
    ("BuyQtyDue gt 38", lambda r: r["BuyQtyDue"] > 38),
    ("BuyUnitPrice lt 0", lambda r: r["BuyUnitPrice"] < 0),
    ("BuyUnitPrice eq 0", lambda r: r["BuyUnitPrice"] == 0),
    ("PartNo eq null", lambda r: r["PartNo"] is None),
    (
        "PartNo ne null and BuyQtyDue le 1",
        lambda r: r["PartNo"] is not None and r["BuyQtyDue"] <= 1,
    ),
    (
        "not (Contract eq 'NORTH') and BuyQtyDue ge 40",
        lambda r: r["Contract"] != "NORTH" and r["BuyQtyDue"] >= 40,
    ),
    (
        "(Contract eq 'NORTH' or Contract eq 'SOUTH') and BuyQtyDue eq 7",
        lambda r: r["Contract"] in ("NORTH", "SOUTH") and r["BuyQtyDue"] == 7,
    ),
    (
        "((startswith(tolower(Description),'ball')))",
        lambda r: r["Description"].lower().startswith("ball"),
    ),
    ("contains(Description,'copper')", lambda r: "copper" in r["Description"]),
    ("WantedDeliveryDate ge 2026-12-20", lambda r: r["WantedDeliveryDate"] >= "2026-12-20"),
    ("NetAmtCurr ge 5000.5", lambda r: r["NetAmtCurr"] >= 5000.5),
]


@pytest.mark.parametrize(("expression", "expected"), LINE_FILTERS, ids=[f[0] for f in LINE_FILTERS])
def test_filter_selects_the_same_rows_as_python(
    client: Ifs, expression: str, expected: Any
) -> None:
    got = {
        r["keyref"] for r in iter_pages(client, f"{PO}/PurchaseOrderLineSet?$filter={expression}")
    }
    want = {r["keyref"] for r in client.raw("PurchaseOrderLineSet") if expected(r)}
    assert got == want
    assert want, "the seed should hold rows for every filter"


def test_filter_on_datetime_literal(client: Ifs) -> None:
    rows = client.rows(f"{PO}/PurchaseOrderSet?$filter=ChangeDate gt 2026-12-30T00:00:00Z")
    assert rows and all(r["ChangeDate"] > "2026-12-30T00:00:00Z" for r in rows)
    offset = client.rows(f"{PO}/PurchaseOrderSet?$filter=ChangeDate gt 2026-12-30T02:00:00%2B02:00")
    assert {r["OrderNo"] for r in offset} == {r["OrderNo"] for r in rows}


def test_filter_string_literal_with_doubled_quote(client: Ifs) -> None:
    rows = client.rows(f"{PO}/PurchaseOrderSet?$filter=OrderNo eq 'PO-O''NEIL-7'")
    assert [r["OrderNo"] for r in rows] == ["PO-O'NEIL-7"]
    proposals = client.rows(f"{PP}/PostingProposalSet?$filter=contains(Text,'O''Brien')&$top=5")
    assert proposals and all("O'Brien" in p["Text"] for p in proposals)


def test_unquoted_string_is_a_syntax_error_with_its_position(client: Ifs) -> None:
    response = client.get(f"{PO}/PurchaseOrderSet?$filter=Contract eq ILER2")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "ODP_UNSUPPORTED_URL"
    assert error["message"] == (
        "Malformed Request: syntax error at position 12 in 'Contract eq ILER2'."
    )


@pytest.mark.parametrize("expression", ["OrderNo eq", "(OrderNo eq 'x'", "OrderNo eq 'x", "a b c"])
def test_malformed_filters_are_400_odp_unsupported_url(client: Ifs, expression: str) -> None:
    response = client.get(f"{PO}/PurchaseOrderSet?$filter={expression}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "ODP_UNSUPPORTED_URL"


def test_unknown_property_is_400_expression_property_not_in_type(client: Ifs) -> None:
    for option in (
        "$filter=NotAColumn eq 'x'",
        "$select=OrderNo,NotAColumn",
        "$orderby=NotAColumn",
    ):
        response = client.get(f"{PO}/PurchaseOrderSet?{option}")
        assert response.status_code == 400
        detail = response.json()["error"]["details"][0]
        assert detail["code"] == "EXPRESSION_PROPERTY_NOT_IN_TYPE"
        assert "'NotAColumn'" in detail["message"]


def test_filter_by_key_fields_uses_the_index(client: Ifs) -> None:
    rows = client.rows(f"{PO}/PurchaseOrderLineSet?$filter=OrderNo eq 'PO-Ü-12' and LineNo eq '3'")
    assert [(r["OrderNo"], r["LineNo"]) for r in rows] == [("PO-Ü-12", "3")]


# -- $select, $orderby, paging -----------------------------------------------------------------


def test_select_limits_properties_and_names_them_in_the_context(client: Ifs) -> None:
    body = client.get(f"{PO}/PurchaseOrderSet?$select=OrderNo,Objstate&$top=2").json()
    assert body["@odata.context"].endswith("$metadata#PurchaseOrderSet(OrderNo,Objstate)")
    assert set(body["value"][0]) == {"@odata.etag", "OrderNo", "Objstate"}


def test_orderby_several_keys_ascending_and_descending(client: Ifs) -> None:
    path = f"{PO}/PurchaseOrderSet?$orderby=Contract asc,OrderDate desc,OrderNo&$top=200"
    rows = client.rows(path)
    keys = [(r["Contract"], r["OrderDate"], r["OrderNo"]) for r in rows]
    assert keys == sorted(keys, key=lambda k: (k[0], _desc(k[1]), k[2]))


def _desc(text: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in text)


def test_top_and_skip_page_through_an_ordered_set(client: Ifs) -> None:
    everything = client.rows(f"{PO}/PurchaseOrderSet?$orderby=OrderNo&$top=30")
    first = client.rows(f"{PO}/PurchaseOrderSet?$orderby=OrderNo&$top=10")
    second = client.rows(f"{PO}/PurchaseOrderSet?$orderby=OrderNo&$top=10&$skip=10")
    assert [r["OrderNo"] for r in first + second] == [r["OrderNo"] for r in everything[:20]]


def test_server_paging_follows_next_link_with_skiptoken(client: Ifs) -> None:
    client.http.put("/_sandbox/behaviour", json={"page_size": 100})
    try:
        first = client.get(f"{PO}/PurchaseOrderSet?$select=OrderNo").json()
        assert len(first["value"]) == 100
        assert "$skiptoken=100" in first["@odata.nextLink"]
        assert "$select=OrderNo" in first["@odata.nextLink"]
        keys = [r["OrderNo"] for r in iter_pages(client, f"{PO}/PurchaseOrderSet?$select=OrderNo")]
        assert len(keys) == len(set(keys)) == len(client.raw("PurchaseOrderSet"))
        within_top = client.get(f"{PO}/PurchaseOrderSet?$top=60").json()
        assert len(within_top["value"]) == 60 and "@odata.nextLink" not in within_top
        beyond = client.get(f"{PO}/PurchaseOrderSet?$top=150").json()
        rest = client.get(beyond["@odata.nextLink"]).json()
        assert (len(beyond["value"]), len(rest["value"])) == (100, 50)
        assert "@odata.nextLink" not in rest
    finally:
        client.http.put("/_sandbox/behaviour", json={"page_size": 500})


def test_percent_encoded_dollar_in_option_names_is_accepted(client: Ifs) -> None:
    assert len(client.rows(f"{PO}/PurchaseOrderSet?%24top=2&%24select=OrderNo")) == 2


@pytest.mark.parametrize(
    "option", ["$expand=LinesArray", "$apply=groupby((Contract))", "$count=true"]
)
def test_unsupported_options_are_ifs_errors(client: Ifs, option: str) -> None:
    response = client.get(f"{PO}/PurchaseOrderSet?{option}")
    assert response.status_code == 501
    assert response.json()["error"]["code"] == "ODP_NOT_IMPLEMENTED"


def test_count_can_be_switched_on(client: Ifs) -> None:
    client.http.put("/_sandbox/behaviour", json={"count_supported": True})
    try:
        body = client.get(f"{PO}/PurchaseOrderSet?$count=true&$top=1").json()
        assert body["@odata.count"] == len(client.raw("PurchaseOrderSet"))
        assert client.get(f"{PO}/PurchaseOrderSet/$count").text == str(body["@odata.count"])
    finally:
        client.http.put("/_sandbox/behaviour", json={"count_supported": False})


def test_unknown_system_option_and_bad_top_are_400(client: Ifs) -> None:
    for option in ("$frobnicate=1", "$top=-1", "$top=ten"):
        response = client.get(f"{PO}/PurchaseOrderSet?{option}")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "ODP_UNSUPPORTED_URL"


def test_proposal_lines_balance_per_proposal(client: Ifs) -> None:
    response = client.http.get("/_sandbox/entities/PostingProposalLineSet")
    lines = json.loads(response.text, parse_float=Decimal)["value"]
    balance: dict[int, Decimal] = {}
    for line in lines:
        debit, credit = line["CurrencyDebetAmount"] or 0, line["CurrencyCreditAmount"] or 0
        balance[line["ProposalId"]] = balance.get(line["ProposalId"], Decimal(0)) + debit - credit
    assert balance and all(total == 0 for total in balance.values())
