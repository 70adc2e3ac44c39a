"""The OData query builder: literals, filters, query strings and key predicates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import unquote

import pytest

from connector_dagster.systems.ifs import odata


def test_string_literal_doubles_quotes() -> None:
    assert odata.literal("O'Brien") == "'O''Brien'"
    assert odata.literal("''") == "''''''"


def test_numbers_are_bare_and_exact() -> None:
    assert odata.literal(2026) == "2026"
    assert odata.literal(Decimal("273.130")) == "273.130"
    assert odata.literal(Decimal("1E+3")) == "1000"
    assert odata.literal(Decimal("-0.05")) == "-0.05"


def test_floats_and_non_finite_decimals_are_refused() -> None:
    with pytest.raises(TypeError):
        odata.literal(2.35)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        odata.literal(Decimal("NaN"))


def test_dates_and_datetimes() -> None:
    assert odata.literal(date(2026, 2, 1)) == "2026-02-01"
    pacific = timezone(timedelta(hours=-8))
    assert (
        odata.literal(datetime(2026, 1, 1, 16, 0, 0, 123456, tzinfo=pacific))
        == "2026-01-02T00:00:00Z"
    )
    with pytest.raises(ValueError, match="naive"):
        odata.literal(datetime(2026, 1, 1))


def test_enum_literal_carries_its_type_name() -> None:
    state = odata.enum("IfsApp.PurchaseOrderHandling.PurchaseOrderState", "Released")
    assert (
        odata.eq("Objstate", state)
        == "Objstate eq IfsApp.PurchaseOrderHandling.PurchaseOrderState'Released'"
    )
    with pytest.raises(ValueError):
        odata.enum("Released'", "x")


def test_null_and_booleans() -> None:
    assert odata.eq("CancelReason", None) == "CancelReason eq null"
    assert odata.ne("Flag", True) == "Flag ne true"


def test_field_names_cannot_inject() -> None:
    with pytest.raises(ValueError):
        odata.eq("OrderNo eq 'x' or 1", "y")
    assert odata.eq("VendorNoRef/Name", "A") == "VendorNoRef/Name eq 'A'"


def test_composition_parenthesises_and_skips_empty() -> None:
    clause = odata.and_(
        odata.ge("OrderDate", date(2026, 1, 1)), None, odata.or_("A eq 1", "B eq 2")
    )
    assert clause == "(OrderDate ge 2026-01-01) and ((A eq 1) or (B eq 2))"
    assert odata.and_(None, "A eq 1") == "A eq 1"
    assert odata.any_of("OrderNo", ["1", "2"]) == "(OrderNo eq '1') or (OrderNo eq '2')"
    assert odata.not_("A eq 1") == "not (A eq 1)"
    assert odata.startswith("Description", "it's") == "startswith(Description,'it''s')"
    with pytest.raises(ValueError):
        odata.any_of("OrderNo", [])


def test_query_string_keeps_dollar_and_encodes_values() -> None:
    qs = odata.query_string(
        filter=odata.and_(odata.eq("Name", "Ñandú & Sons #1 = 100%"), odata.gt("Qty", 5)),
        select=["OrderNo", "Name"],
        orderby=["OrderNo", "LineNo desc"],
        top=500,
        skip=1000,
    )
    assert qs.startswith("$filter=")
    assert "%24" not in qs
    names = [part.partition("=")[0] for part in qs.split("&")]
    assert names == ["$filter", "$select", "$orderby", "$top", "$skip"]
    assert qs.isascii() and " " not in qs and "#" not in qs
    filter_value = qs.split("&")[0].partition("=")[2]
    assert unquote(filter_value) == "(Name eq 'Ñandú & Sons #1 = 100%') and (Qty gt 5)"
    assert "$orderby=OrderNo,LineNo%20desc" in qs
    assert odata.query_string(skip=0, top=0) == "$top=0"
    with pytest.raises(ValueError):
        odata.query_string(top=-1)
    with pytest.raises(ValueError):
        odata.query_string(orderby=["OrderNo sideways"])


def test_key_predicates_single_composite_and_awkward_values() -> None:
    assert odata.entity_path("PurchaseOrderSet", {"OrderNo": "PO-1"}) == (
        "PurchaseOrderSet(OrderNo='PO-1')"
    )
    assert odata.key_predicate({"Company": "ACME01", "VoucherNo": 12}) == (
        "(Company='ACME01',VoucherNo=12)"
    )
    awkward = odata.key_predicate({"OrderNo": "O'Neil) Ñ/1?#"})
    assert awkward.isascii() and "/" not in awkward and "?" not in awkward
    assert unquote(awkward) == "(OrderNo='O''Neil) Ñ/1?#')"
    with pytest.raises(ValueError):
        odata.key_predicate({})


def test_datetime_literal_is_utc_with_z() -> None:
    assert odata.literal(datetime(2026, 3, 1, tzinfo=UTC)) == "2026-03-01T00:00:00Z"
