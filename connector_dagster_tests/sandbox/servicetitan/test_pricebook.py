"""ServiceTitan simulator, pricebook API: material and equipment SKUs, active only
unless asked, paged — over real HTTP. (No spec of the pricebook module is at hand, so
these stand in for its OpenAPI conformance case.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connector_dagster.sandbox import world
from connector_dagster_tests.sandbox.servicetitan.support import StSandbox, st_sandbox


@pytest.fixture(scope="module")
def seeded() -> Iterator[StSandbox]:
    with st_sandbox() as sandbox:
        yield sandbox


def test_materials_and_equipment_list_the_parts_skus_and_the_extra_materials(
    seeded: StSandbox,
) -> None:
    every = {**seeded.ok("GET", "pricebook", "materials", params={"active": "Any"}),
             "equipment": seeded.ok("GET", "pricebook", "equipment")["data"]}  # fmt: skip
    materials, equipment = every["data"], every["equipment"]

    codes = {s["code"] for s in materials + equipment}
    assert {p.ifs_part_no for p in world.PARTS} <= codes
    assert {s.number for s in world.ST_EXTRA_SKUS} <= {s["code"] for s in materials}
    assert not {s["code"] for s in materials} & {s["code"] for s in equipment}
    first = next(s for s in materials if s["id"] == 55601)
    assert first["displayName"] == "Copper Pipe, 1/2 in. x 10 ft" and first["active"] is True
    assert {"id", "code", "displayName", "description", "cost", "price", "active",
            "createdOn", "modifiedOn"} <= set(first)  # fmt: skip


def test_inactive_skus_are_listed_only_when_asked_and_pages_end(seeded: StSandbox) -> None:
    active = seeded.ok("GET", "pricebook", "materials", params={"pageSize": 50})
    every = seeded.ok("GET", "pricebook", "materials", params={"active": "Any", "pageSize": 50})
    page = seeded.ok("GET", "pricebook", "materials", params={"pageSize": 5, "page": 2})

    assert 55607 not in {s["id"] for s in active["data"]}
    assert 55607 in {s["id"] for s in every["data"]}
    assert len(page["data"]) == 5 and page["hasMore"] is True
