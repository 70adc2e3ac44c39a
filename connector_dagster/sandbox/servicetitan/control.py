"""The ServiceTitan simulator's `/_sandbox/` control endpoints, for tests and
demos: state and request counts, fault profile, reseeding, raw rows, token
revocation, webhooks, a vendor, SKU or GL account deactivated (or active again),
the moves of `actions` (receive a PO, post or change an invoice, edit a journal
entry) and those of `control_accounting` (close a period, export a document
elsewhere). Never faulted, limited or counted."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connector_dagster.sandbox.faults import FaultProfile
from connector_dagster.sandbox.servicetitan import control_accounting
from connector_dagster.sandbox.servicetitan.accounting import render_invoice
from connector_dagster.sandbox.servicetitan.actions import move_po, upsert_invoice
from connector_dagster.sandbox.servicetitan.actions import touch_journal_entry as touch
from connector_dagster.sandbox.servicetitan.bills import render_ap_bill, render_inventory_bill
from connector_dagster.sandbox.servicetitan.common import ApiError, Row, money
from connector_dagster.sandbox.servicetitan.control_http import guarded, json_body, ok, sim_of
from connector_dagster.sandbox.servicetitan.journal_model import render_detail, render_je
from connector_dagster.sandbox.servicetitan.jpm import render_job
from connector_dagster.sandbox.servicetitan.po_model import render_item, render_po
from connector_dagster.sandbox.servicetitan.references import stamped
from connector_dagster.sandbox.servicetitan.settings import render_business_unit
from connector_dagster.sandbox.servicetitan.store import Store
from connector_dagster.sandbox.servicetitan.webhooks import event_data, occurrence_id, signing_of


def _renderers(store: Store) -> dict[str, Any]:
    def po(row: Row) -> Row:
        inactive = [render_item(i) for i in row["items"] if not i["active"]]
        extras = {
            "canceledReason": row["canceledReason"],
            "inactiveItems": inactive,
            "shipToDescription": row["shipToDescription"],
        }
        return {**render_po(row), "_sandbox": extras}

    def je(row: Row) -> Row:
        lines = [render_detail(row, line, store) for line in row["lines"]]
        return {**render_je(row), "_sandbox": {"lines": lines}}

    def invoice(row: Row) -> Row:
        return {
            **render_invoice(row, store),
            "_sandbox": {"externalMessage": row["externalMessage"]},
        }

    def sku(row: Row) -> Row:
        return {**row, "cost": money(row["cost"]), "price": money(row["price"])}

    def customer(row: Row) -> Row:
        return {k: row[k] for k in ("id", "name", "businessUnitId", "locationId", "address")}

    return {
        "vendors": stamped,
        "purchase-order-types": stamped,
        "warehouses": stamped,
        "tax-zones": stamped,
        "gl-accounts": stamped,
        "business-units": render_business_unit,
        "skus": sku,
        "customers": customer,
        "purchase-orders": po,
        "invoices": invoice,
        "jobs": lambda row: {**render_job(row), "active": row["active"]},
        "inventory-bills": lambda row: render_inventory_bill(row, store),
        "ap-bills": lambda row: render_ap_bill(row, store),
        "journal-entries": je,
    }


async def state(request: Request) -> Response:
    sim = sim_of(request)
    counts = {name: len(rows) for name, rows in sim.store.tables.items()}
    config = sim.config
    return ok(
        {
            "seed": config.seed,
            "scale": config.scale,
            "seededAsOf": sim.seeded_as_of.isoformat(),
            "counts": counts,
            "version": sim.store.version,
            "webhookDeliveries": len(sim.webhooks.deliveries),
        }
    )


async def requests_seen(request: Request) -> Response:
    stats = sim_of(request).stats
    if request.method == "DELETE":
        stats.reset()
    return ok(stats.snapshot())


async def faults(request: Request) -> Response:
    sandbox = sim_of(request).sandbox
    assert sandbox is not None
    if request.method == "PUT":
        try:
            sandbox.set_profile(FaultProfile.from_dict(await json_body(request)))
        except (TypeError, ValueError) as exc:
            raise ApiError(400, f"Invalid fault profile: {exc}") from None
    return ok(sandbox.profile.to_dict())


async def reset(request: Request) -> Response:
    sim = sim_of(request)
    sim.reseed()
    sim.webhooks.clear()
    return ok({"counts": {name: len(rows) for name, rows in sim.store.tables.items()}})


async def entities(request: Request) -> Response:
    store = sim_of(request).store
    name = request.path_params["resource"]
    renderers = _renderers(store)
    if name not in renderers:
        raise ApiError(404, f"Unknown resource '{name}'.", {"resource": sorted(renderers)})
    table = store.tables[name]
    keys = [k for k in request.query_params.get("ids", "").split(",") if k]
    rows = [table[_key(k)] for k in keys if _key(k) in table] if keys else table.values()
    return ok([renderers[name](row) for row in rows])


def _key(text: str) -> Any:
    return int(text) if text.isdigit() else text


async def po_status(request: Request) -> Response:
    store = sim_of(request).store
    status = (await json_body(request)).get("status")
    po = move_po(store, _key(request.path_params["id"]), status)
    return ok(render_po(po))


async def invoices(request: Request) -> Response:
    store = sim_of(request).store
    inv, created = upsert_invoice(store, await json_body(request))
    return ok(render_invoice(inv, store), 201 if created else 200)


async def touch_journal_entry(request: Request) -> Response:
    je = touch(sim_of(request).store, request.path_params["id"])
    return ok(render_je(je))


_MASTER = {"vendors": "Vendor", "skus": "SKU", "gl-accounts": "GL account"}
"""Master records an office user may deactivate (and reactivate) between two runs."""


async def set_active(request: Request) -> Response:
    """`{"active": false}`: the vendor, SKU or GL account is deactivated (true: again active)."""
    store = sim_of(request).store
    resource = request.path_params["resource"]
    if resource not in _MASTER:
        raise ApiError(404, f"Unknown master list '{resource}'.", {"resource": list(_MASTER)})
    row = store.tables[resource].get(_key(request.path_params["id"]))
    if row is None:
        raise ApiError(404, f"{_MASTER[resource]} {request.path_params['id']} was not found.")
    active = (await json_body(request)).get("active")
    if not isinstance(active, bool):
        raise ApiError(400, 'Expected {"active": true|false}.', {"active": ["A boolean."]})
    row["active"] = active
    if "modifiedOn" in row:
        store.touch(resource, row)
    else:
        store.changes += 1
    return ok(_renderers(store)[resource](row))


async def revoke_tokens(request: Request) -> Response:
    return ok({"revoked": sim_of(request).tokens.revoke_all()})


async def emit_webhook(request: Request) -> Response:
    """`{"type", "invoiceId"|"jobId", "url"?, "userassignedid"?, "signatureHeader"?,
    "signatureEncoding"?}`: a new occurrence, or the one `userassignedid` names
    delivered again with its first payload."""
    sim = sim_of(request)
    body = await json_body(request)
    url = body.get("url")
    if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
        raise ApiError(400, "Invalid webhook URL.", {"url": ["An http:// or https:// URL."]})
    uid = occurrence_id(body)
    signing = signing_of(sim.config, body)
    known = sim.webhooks.occurrences.get(uid) if uid else None
    if known is not None:
        if body.get("type", known["type"]) != known["type"]:
            raise ApiError(
                400,
                "The userassignedid names another event.",
                {"type": [f"Occurrence {uid} is a {known['type']} event."]},
            )
        return ok(sim.webhooks.redeliver(known["userassignedid"], url, signing), 202)
    kind, data = event_data(sim.store, body, sim.tenant_id)
    return ok(sim.webhooks.emit(kind, data, url, uid, signing), 202)


async def deliveries(request: Request) -> Response:
    wanted = request.query_params.get("userassignedid")
    rows = sim_of(request).webhooks.deliveries
    return ok([d for d in rows if wanted in (None, d["userassignedid"])])


def routes() -> list[Route]:
    table = (
        ("/_sandbox/state", state, ["GET"]),
        ("/_sandbox/requests", requests_seen, ["GET", "DELETE"]),
        ("/_sandbox/faults", faults, ["GET", "PUT"]),
        ("/_sandbox/reset", reset, ["POST"]),
        ("/_sandbox/entities/{resource}", entities, ["GET"]),
        ("/_sandbox/purchase-orders/{id}/status", po_status, ["POST"]),
        ("/_sandbox/invoices", invoices, ["POST"]),
        ("/_sandbox/journal-entries/{id}/touch", touch_journal_entry, ["POST"]),
        ("/_sandbox/tokens", revoke_tokens, ["DELETE"]),
        ("/_sandbox/{resource}/{id}/active", set_active, ["POST"]),
        ("/_sandbox/webhooks/emit", emit_webhook, ["POST"]),
        ("/_sandbox/webhooks/deliveries", deliveries, ["GET"]),
        *control_accounting.ROUTES,
    )
    return [Route(path, guarded(endpoint), methods=methods) for path, endpoint, methods in table]
