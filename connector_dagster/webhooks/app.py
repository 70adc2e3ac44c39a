"""The receiver's Starlette app: `POST /webhooks/<connection>` takes a delivery
(content type and size checked before the body is read; then the connection's keys,
the signature over the raw body, the envelope, event type and tenant), answers 200
once its inbox row is committed, and refuses anything else with the status of its
reason. `GET /healthz` answers 200 while the database does.

Logs say which connection, what was refused and why, and what to do; never the
body, the signature or a key."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import psycopg2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connector_dagster.lib.inbox import NewEvent
from connector_dagster.lib.store import Store
from connector_dagster.systems.vault import Vault, VaultError
from connector_dagster.webhooks.config import PREFIX, Endpoint, ReceiverConfig
from connector_dagster.webhooks.envelope import Event
from connector_dagster.webhooks.keys import KeyRing
from connector_dagster.webhooks.refusals import RefusalCounter, Refused
from connector_dagster.webhooks.signature import SigningKey, construct_event
from connector_dagster.webhooks.writer import InboxWriter

log = logging.getLogger("connector_dagster.webhooks")

CONTENT_TYPES = ("application/json", "application/cloudevents+json")


def create_app(
    config: ReceiverConfig, store: Store, on_ready: Callable[[], None] | None = None
) -> Starlette:
    """The app; it owns `store` (closed on shutdown). `on_ready` runs once it serves."""
    keyring = KeyRing(
        Vault(store), {name: e.settings.key_cache_s for name, e in config.endpoints.items()}
    )
    writer = InboxWriter(store, config.max_batch, config.writers)
    refusals = RefusalCounter()

    async def receive(request: Request) -> JSONResponse:
        name = request.path_params["connection"]
        endpoint = config.endpoints.get(name)
        client = request.client.host if request.client else "?"
        if endpoint is None:
            log.warning(
                "refused a delivery to %s/%r from %s (404): no connection of that name takes "
                "webhooks; the endpoints are %s",
                PREFIX,
                name[:40],
                client,
                ", ".join(e.path for e in config.endpoints.values()) or "(none)",
            )
            return JSONResponse({"error": "unknown connection"}, 404)
        size = 0
        try:
            _check_content_type(request.headers.get("content-type"))
            body = await _read_body(request, endpoint.settings.max_body_bytes)
            size = len(body)
            keys = keyring.cached(name) or await run_in_threadpool(_keys, keyring, name)
            signature = request.headers.get(endpoint.settings.signature_header)
            event = construct_event(body, signature, keys, endpoint.expect)
            row = await writer.store_event(
                NewEvent(name, event.occurrence_id, event.type, event.time, event.body,
                         event.delivery_id)
            )  # fmt: skip
        except Refused as refused:
            refusals.add(name, refused.reason)
            _log_refusal(endpoint, refused, size, client)
            return JSONResponse({"error": refused.reason}, refused.status)
        _log_stored(endpoint, event, row)
        return JSONResponse({"stored": row is not None}, 200)

    async def healthz(request: Request) -> JSONResponse:
        try:
            await run_in_threadpool(_ping, store)
        except Exception as exc:
            log.warning("health check: the database does not answer (%s)", type(exc).__name__)
            return JSONResponse({"ok": False}, 503)
        return JSONResponse({"ok": True}, 200)

    async def flush_refusals() -> None:
        while True:
            await asyncio.sleep(config.refusal_flush_s)
            await run_in_threadpool(_flush, refusals, store)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(flush_refusals())
        if on_ready is not None:
            on_ready()
        try:
            yield
        finally:
            task.cancel()
            await run_in_threadpool(_flush, refusals, store)
            store.close()

    routes = [
        Route(f"{PREFIX}/{{connection}}", receive, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def _check_content_type(value: str | None) -> None:
    """JSON or structured-mode CloudEvents, in UTF-8 if a charset is named; else 415."""
    media, *params = (part.strip().lower() for part in (value or "").split(";"))
    charsets = [p.split("=", 1)[1].strip('" ') for p in params if p.startswith("charset=")]
    if media not in CONTENT_TYPES or any(c not in ("utf-8", "utf8") for c in charsets):
        raise Refused(
            "content_type",
            f"the content type is not {' or '.join(CONTENT_TYPES)} (UTF-8)",
        )


async def _read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused (413) as soon as it is known to exceed `limit` bytes."""
    too_large = Refused(
        "body_too_large",
        f"the body exceeds {limit} bytes (servicetitan.webhooks.max_body_bytes)",
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _log_refusal(endpoint: Endpoint, refused: Refused, size: int, client: str) -> None:
    level = logging.ERROR if refused.status >= 500 else logging.WARNING
    log.log(
        level,
        "connection %s: refused a delivery from %s (%d %s, %d bytes): %s",
        endpoint.connection,
        client,
        refused.status,
        refused.reason,
        size,
        refused,
    )


def _keys(keyring: KeyRing, connection: str) -> tuple[SigningKey, ...]:
    """The connection's keys from the vault; Refused (503) when they cannot be read."""
    try:
        return keyring.keys(connection)
    except VaultError as exc:
        raise Refused("key_missing", str(exc)) from None
    except psycopg2.Error as exc:
        raise Refused(
            "store_unavailable",
            f"the vault cannot be read ({type(exc).__name__}); check the database",
        ) from None


def _log_stored(endpoint: Endpoint, event: Event, row: int | None) -> None:
    key = " (signed with the previous webhook key)" if event.signed_with == "previous" else ""
    if row is None:
        log.info(
            "connection %s: %s occurrence %r delivered again (delivery %r)%s; stored once",
            endpoint.connection,
            event.type,
            event.occurrence_id,
            event.delivery_id,
            key,
        )
    else:
        log.info(
            "connection %s: stored %s occurrence %r (delivery %r) as inbox row %d%s",
            endpoint.connection,
            event.type,
            event.occurrence_id,
            event.delivery_id,
            row,
            key,
        )


def _ping(store: Store) -> None:
    with store.cursor() as cur:
        cur.execute("SELECT 1")


def _flush(refusals: RefusalCounter, store: Store) -> None:
    try:
        refusals.flush(store)
    except Exception as exc:
        log.warning(
            "refusal counts could not be written (%s); they are kept for the next try",
            type(exc).__name__,
        )
