"""The ServiceTitan simulator's accounting control endpoints, what an accountant
or another integration would do between two API calls:

- `GET /_sandbox/accounting-periods`: `{"closed": ["2026-03", …]}`.
- `POST /_sandbox/accounting-periods/{YYYY-MM}/close` and `…/reopen`: close or
  reopen a period for journal entries (the same list as the fault profile's
  `closed_periods`, so `PUT /_sandbox/faults` replaces it too).
- `POST /_sandbox/{invoices|inventory-bills|ap-bills}/{id}/exported`: another
  integration marks the document exported (invoices: body `{"externalId",
  "externalMessage"}`, default external id `OTHER-{id}`); the same rules as
  `markasexported`, refused with a 400 naming the reason.
- `POST /_sandbox/{inventory-bills|ap-bills}/{id}/items/{order}`: a bill keyed in with
  another quantity or cost on one item (body `{"quantity"?, "cost"?}`); the bill's
  amount follows its lines, as ServiceTitan's bill entry totals them."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from starlette.requests import Request
from starlette.responses import Response

from connector_dagster.sandbox.servicetitan.accounting import mark_invoice, render_invoice
from connector_dagster.sandbox.servicetitan.bills import (
    mark_bill,
    render_ap_bill,
    render_inventory_bill,
)
from connector_dagster.sandbox.servicetitan.common import ApiError, bad_request, fits
from connector_dagster.sandbox.servicetitan.control_http import json_body, ok, sim_of
from connector_dagster.sandbox.servicetitan.journal_rules import valid_period

_DOCUMENTS = {
    "invoices": ("invoices", "Invoice"),
    "inventory-bills": ("inventory-bills", "Inventory bill"),
    "ap-bills": ("ap-bills", "AP bill"),
}


def _closed(request: Request) -> list[str]:
    sandbox = sim_of(request).sandbox
    assert sandbox is not None
    return list(sandbox.profile.closed_periods)


def _set_closed(request: Request, periods: set[str]) -> list[str]:
    sandbox = sim_of(request).sandbox
    assert sandbox is not None
    sandbox.profile.closed_periods = sorted(periods)
    return sandbox.profile.closed_periods


async def periods(request: Request) -> Response:
    return ok({"closed": _closed(request)})


async def close_period(request: Request) -> Response:
    period = valid_period(request.path_params["period"])
    closed = _set_closed(request, {*_closed(request), period})
    return ok({"period": period, "closed": True, "closedPeriods": closed})


async def reopen_period(request: Request) -> Response:
    period = valid_period(request.path_params["period"])
    closed = _set_closed(request, set(_closed(request)) - {period})
    return ok({"period": period, "closed": False, "closedPeriods": closed})


async def exported_elsewhere(request: Request) -> Response:
    resource = request.path_params["resource"]
    if resource not in _DOCUMENTS:
        raise ApiError(404, f"Unknown document kind '{resource}'.", {"resource": list(_DOCUMENTS)})
    table, what = _DOCUMENTS[resource]
    raw = request.path_params["id"]
    store = sim_of(request).store
    if not raw.isdigit():
        raise bad_request("id", f"'{raw}' is not an id.")
    row = store.tables[table].get(int(raw))
    if row is None and resource == "ap-bills":
        row = store.tables["inventory-bills"].get(int(raw))
    if row is None:
        raise ApiError(404, f"{what} {raw} was not found.")
    body = await json_body(request)
    if resource != "invoices":
        mark_bill(store, row)
        render = render_ap_bill if resource == "ap-bills" else render_inventory_bill
        return ok(render(row, store))
    external_id = body.get("externalId", f"OTHER-{row['id']}")
    message = body.get("externalMessage", "Exported by another integration")
    if not all(v is None or isinstance(v, str) for v in (external_id, message)):
        raise bad_request("externalId", "externalId and externalMessage must be strings.")
    error = mark_invoice(store, row, external_id, message)
    if error:
        raise bad_request("id", error, "Invoice was not marked exported.")
    return ok(render_invoice(row, store))


async def bill_item(request: Request) -> Response:
    resource, raw = request.path_params["resource"], request.path_params["id"]
    if resource not in ("inventory-bills", "ap-bills"):
        raise ApiError(
            404, f"Unknown bill kind '{resource}'.", {"resource": ["inventory-bills", "ap-bills"]}
        )
    store = sim_of(request).store
    if not raw.isdigit():
        raise bad_request("id", f"'{raw}' is not an id.")
    bill = store.tables[resource].get(int(raw)) or store.tables["inventory-bills"].get(int(raw))
    if bill is None:
        raise ApiError(404, f"Bill {raw} was not found.")
    order = request.path_params["order"]
    found = [n for n, item in enumerate(bill["items"]) if str(item[4]) == order]
    if not found:
        raise bad_request("order", f"Bill {raw} has no item {order}.")
    body = await json_body(request)
    item_id, sku_id, quantity, cost, n = bill["items"][found[0]]
    changed = {}
    for name, value in (("quantity", quantity), ("cost", cost)):
        try:
            changed[name] = Decimal(str(body.get(name, value)))
        except InvalidOperation:
            raise bad_request(name, f"{body[name]!r} is not a number.") from None
        if not changed[name].is_finite() or not fits(changed[name]):
            raise bad_request(name, f"{body[name]!r} is not an amount ServiceTitan holds.")
    bill["items"][found[0]] = (item_id, sku_id, changed["quantity"], changed["cost"], n)
    lines = sum((i[2] * i[3] for i in bill["items"]), Decimal(0))
    bill["billAmount"] = lines + sum((e[1] for e in bill["expenseItems"]), Decimal(0))
    table = "inventory-bills" if bill["billType"] == "Procurement" else "ap-bills"
    store.touch(table, bill)
    render = render_ap_bill if resource == "ap-bills" else render_inventory_bill
    return ok(render(bill, store))


ROUTES = (
    ("/_sandbox/accounting-periods", periods, ["GET"]),
    ("/_sandbox/accounting-periods/{period}/close", close_period, ["POST"]),
    ("/_sandbox/accounting-periods/{period}/reopen", reopen_period, ["POST"]),
    ("/_sandbox/{resource}/{id}/exported", exported_elsewhere, ["POST"]),
    ("/_sandbox/{resource}/{id}/items/{order}", bill_item, ["POST"]),
)
