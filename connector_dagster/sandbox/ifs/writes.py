"""Writes through the IFS simulator's OData endpoint: create (also through a parent's
navigation property), PATCH with If-Match or upsert, DELETE, and bound actions.

If-Match follows IFS: the current ETag or `*` passes, a stale one is 412, a
missing one upserts or is 428 (`IfsBehaviour.missing_if_match`). The fault
profile's `rate_stale_etag` lets an IFS user edit the row just before a write.
"""

from __future__ import annotations

import json
import random
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from connector_dagster.sandbox.ifs import rules
from connector_dagster.sandbox.ifs.odata import ODataError
from connector_dagster.sandbox.ifs.odata_filter import parse_key
from connector_dagster.sandbox.ifs.responses import Target, entity_response
from connector_dagster.sandbox.ifs.rules import Writer
from connector_dagster.sandbox.ifs.schema import (
    EXTERNAL_VOUCHER_ROWS,
    EXTERNAL_VOUCHERS,
    EntitySet,
    Row,
)
from connector_dagster.sandbox.ifs.store import IfsStore


def writer_of(request: Request, user: str) -> Writer:
    """The API client `user`, under the tenant's current switches."""
    behaviour = request.app.state.behaviour
    return Writer(
        user=user,
        po_manual_numbering=behaviour.po_manual_numbering,
        po_locked_states=tuple(behaviour.po_locked_states),
    )


def key_of(target: Target) -> tuple[Any, ...]:
    assert target.eset is not None and target.key_text is not None
    return parse_key(target.key_text, target.service.types[target.eset.name])


async def json_body(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type != "application/json":
            raise ValueError(f"Content-Type '{content_type}' is not application/json")
        body = json.loads(await request.body(), parse_float=Decimal)
        if not isinstance(body, dict):
            raise ValueError("the body is not a JSON object")
    except ValueError as exc:
        raise ODataError(
            400,
            "ODP_DESERIALIZATION_ERROR",
            "Error while de-serializing contents.",
            [{"code": "ODP_DESERIALIZATION_ERROR", "message": str(exc)}],
        ) from None
    return body


def _closed_periods(request: Request) -> list[str]:
    """Periods the fault profile closes for every company."""
    return request.app.state.sandbox.profile.closed_periods


def _read_only(eset: EntitySet) -> ODataError:
    return ODataError(405, "ODP_METHOD_NOT_ALLOWED", f"{eset.name} is read-only.")


async def create(
    request: Request, target: Target, eset: EntitySet, user: str, parent_key: tuple | None = None
) -> Response:
    """POST to a set, or to `Parent(key)/{nav}` with `parent_key` (which wins over the body)."""
    if eset.read_only:
        raise _read_only(eset)
    body = await json_body(request)
    if parent_key is not None:
        assert target.eset is not None
        body.update(zip(target.eset.keys, parent_key, strict=True))
    store: IfsStore = request.app.state.store
    row = store.create(eset, body, writer_of(request, user), _closed_periods(request))
    return entity_response(request, target, eset, row, 201)


def _concurrent_edit(request: Request, eset: EntitySet, key: tuple[Any, ...]) -> Row | None:
    """Fetch the row; with the profile's rate_stale_etag, an IFS user edits it first."""
    state = request.app.state
    store: IfsStore = state.store
    row = store.get(eset, key)
    profile = state.sandbox.profile
    if row is None or profile.rate_stale_etag <= 0:
        return row
    seeded_for, dice = state.stale_etag_dice
    if seeded_for is not profile:
        dice = random.Random(profile.seed)
        state.stale_etag_dice = (profile, dice)
    return store.touch(eset, key) if dice.random() < profile.rate_stale_etag else row


def _precondition(request: Request, eset: EntitySet, row: Row | None) -> bool:
    """Check If-Match; False when it is missing and the missing-If-Match mode allows that."""
    if_match = request.headers.get("if-match")
    if if_match is None:
        if request.app.state.behaviour.missing_if_match == "428":
            raise ODataError(
                428, "ODP_MISSING_PRECONDITION", "The request must contain an If-Match header."
            )
        return False
    if row is None:
        raise ODataError(404, "ODP_RESOURCE_NOTFOUND", "Resource not found.")
    current = request.app.state.store.etag(eset, row)
    given = [t.strip() for t in if_match.split(",")]
    if "*" not in given and current not in given and current[2:] not in given:
        raise ODataError(
            412,
            "ODP_PRECONDITION_FAILED",
            "The entity has been modified by another user. Refresh and try again.",
            [
                {
                    "code": "MODIFIED",
                    "message": f"The {eset.luname} has been modified by another user.",
                }
            ],
        )
    return True


async def update(request: Request, target: Target, user: str) -> Response:
    eset = target.eset
    assert eset is not None
    if eset.read_only:
        raise _read_only(eset)
    key = key_of(target)
    body = await json_body(request)
    store: IfsStore = request.app.state.store
    writer = writer_of(request, user)
    row = _concurrent_edit(request, eset, key)
    if not _precondition(request, eset, row) and row is None:
        keyed = {k: v for k, v in body.items() if k not in eset.keys}
        keyed.update(zip(eset.keys, key, strict=True))
        created = store.create(eset, keyed, writer, _closed_periods(request))
        return entity_response(request, target, eset, created, 201)
    row = store.update(eset, key, body, writer, _closed_periods(request))
    prefer = request.headers.get("prefer", "")
    if request.app.state.behaviour.patch_returns_entity or "return=representation" in prefer:
        return entity_response(request, target, eset, row)
    return Response(
        status_code=204, headers={"ETag": store.etag(eset, row), "OData-Version": "4.0"}
    )


def delete(request: Request, target: Target, user: str) -> Response:
    eset = target.eset
    assert eset is not None
    if eset.read_only:
        raise _read_only(eset)
    key = key_of(target)
    row = _concurrent_edit(request, eset, key)
    _precondition(request, eset, row)
    if row is None:
        raise ODataError(404, "ODP_RESOURCE_NOTFOUND", "Resource not found.")
    request.app.state.store.delete(eset, key, writer_of(request, user))
    return Response(status_code=204, headers={"OData-Version": "4.0"})


async def action(request: Request, target: Target, name: str, user: str) -> Response:
    """A bound action, `POST Set(key)/IfsApp.{P}.{Entity}_{Action}` with body `{}`: the
    external voucher's Check (balanced, period open: Loaded -> Checked) and
    CreateVoucher (Checked -> Created). Answers 204 with the new ETag."""
    eset = target.eset
    assert eset is EXTERNAL_VOUCHERS
    if await request.body():
        await json_body(request)
    key = key_of(target)
    store: IfsStore = request.app.state.store
    row = _concurrent_edit(request, eset, key)
    _precondition(request, eset, row)
    if row is None:
        raise ODataError(404, "ODP_RESOURCE_NOTFOUND", "Resource not found.")
    voucher = store.values(eset, row)
    writer = writer_of(request, user)
    rules.check_unlocked(eset, voucher, None, writer)
    if name == "Check":
        closed = _closed_periods(request)
        rules.check(eset, voucher, None, lambda c, p: store.is_closed(c, p, closed))
        if not request.app.state.behaviour.allow_unbalanced_vouchers:
            parent_key = dict(zip(eset.keys, key, strict=True))
            lines = store.children(EXTERNAL_VOUCHER_ROWS, parent_key)
            rules.check_balanced(voucher, [store.values(EXTERNAL_VOUCHER_ROWS, r) for r in lines])
        new_state = "Checked"
    elif voucher["Objstate"] != "Checked":
        raise rules.database_error(
            f"ORA-20110: ExtLoadInfo.NOTCHECKED: Load ID {voucher['LoadId']} of company "
            f"{voucher['Company']} is {voucher['Objstate']}; check it before creating vouchers."
        )
    else:
        new_state = "Created"
    as_ifs = Writer(user=user, as_user=True)
    row = store.update(eset, key, {"Objstate": new_state}, as_ifs)
    return Response(
        status_code=204, headers={"ETag": store.etag(eset, row), "OData-Version": "4.0"}
    )
