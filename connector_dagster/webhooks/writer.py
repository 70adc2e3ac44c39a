"""Group commit of inbox rows: deliveries that arrive while a batch is being written
go together into the next one (one transaction), and each is answered only once its
own batch is committed. One event PostgreSQL refuses (a NUL character, say) fails
alone: its batch is written again row by row."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import psycopg2
from starlette.concurrency import run_in_threadpool

from connector_dagster.lib import inbox
from connector_dagster.lib.inbox import NewEvent
from connector_dagster.lib.store import Store
from connector_dagster.webhooks.refusals import Refused

log = logging.getLogger("connector_dagster.webhooks")


@dataclass
class _Pending:
    event: NewEvent
    answer: asyncio.Future[int | None]


class InboxWriter:
    """Writes inbox rows from the event loop, `max_batch` at most per transaction and
    `writers` transactions at once."""

    def __init__(self, store: Store, max_batch: int = 256, writers: int = 2) -> None:
        self.store = store
        self.max_batch = max_batch
        self.writers = writers
        self._queue: list[_Pending] = []
        self._running = 0

    async def store_event(self, event: NewEvent) -> int | None:
        """The new row id, or None if the occurrence was stored before; Refused when
        it cannot be stored (`store_unavailable`, or `envelope_invalid` for an event
        PostgreSQL refuses)."""
        answer: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(event, answer))
        if self._running < self.writers:
            self._running += 1
            asyncio.get_running_loop().create_task(self._drain())
        return await answer

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
                await self._write(batch)
        finally:
            self._running -= 1

    async def _write(self, batch: list[_Pending]) -> None:
        try:
            ids = await run_in_threadpool(inbox.insert_many, self.store, [p.event for p in batch])
        except psycopg2.DataError:
            if len(batch) == 1:
                _settle(batch[0], exc=_refused_by_database(batch[0].event))
                return
            for pending in batch:
                await self._write([pending])
            return
        except Exception as exc:
            refused = Refused("store_unavailable", _unavailable(exc))
            for pending in batch:
                _settle(pending, exc=refused)
            return
        for pending, row in zip(batch, ids, strict=True):
            _settle(pending, row=row)


def _settle(pending: _Pending, row: int | None = None, exc: Exception | None = None) -> None:
    if pending.answer.done():
        return
    if exc is None:
        pending.answer.set_result(row)
    else:
        pending.answer.set_exception(exc)


def _refused_by_database(event: NewEvent) -> Refused:
    return Refused(
        "envelope_invalid",
        f"PostgreSQL cannot store occurrence {event.occurrence_id!r} as JSON (a NUL "
        "character or an unpaired surrogate in it); it is refused",
    )


def _unavailable(exc: Exception) -> str:
    """What went wrong, without the database's message for errors that may quote the
    row (only connection failures are described)."""
    what = type(exc).__name__
    if isinstance(exc, psycopg2.OperationalError | psycopg2.InterfaceError):
        what += ": " + (str(exc).strip().splitlines() or ["?"])[0]
    elif isinstance(exc, psycopg2.Error) and exc.pgcode:
        what += f" (SQLSTATE {exc.pgcode})"
    return (
        f"the inbox cannot be written ({what}); ServiceTitan retries "
        "the delivery; check the database (CONNECTOR_DATABASE_URL) and run "
        "`connector-dagster db migrate`"
    )
