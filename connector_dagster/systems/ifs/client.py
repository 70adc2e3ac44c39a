"""IFS Cloud OData client: paged reads with ETags, writes on `/int/`, If-Match updates.

Reads follow `@odata.nextLink` verbatim and otherwise page with `$top/$skip`
over a stable `$orderby` on the keys; every row keeps its `@odata.etag`.
Updates read the current ETag, PATCH with `If-Match`, and on 412 re-read and
re-apply the change (bounded) before reporting a conflict. A change set of
requests goes as one `$batch` (all or nothing); its failed request is
classified like the same request sent alone.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from connector_dagster.lib.errors import (
    ApiError,
    ConflictError,
    ErrorKind,
    NotFoundError,
    OutcomeUnknownError,
    RejectedError,
    TransientError,
    api_message,
    error_for,
)
from connector_dagster.lib.http import (
    Reply,
    decode_json,
    encode_json,
    kind_for_status,
    map_concurrent,
)
from connector_dagster.lib.ratelimit import Rate, limiter_for
from connector_dagster.systems.client import ApiClient, ClientSettings
from connector_dagster.systems.ifs import batch as ifs_batch
from connector_dagster.systems.ifs import odata
from connector_dagster.systems.ifs.batch import BatchAnswer, BatchFormatError, BatchRequest

T = TypeVar("T")
R = TypeVar("R")

ETAG = "@odata.etag"
NEXT_LINK = "@odata.nextLink"


@dataclass(frozen=True, kw_only=True)
class IfsSettings(ClientSettings):
    """One IFS connection: host, realm, service user, limits and timeouts."""

    base_url: str
    realm: str
    scope: str = "openid microprofile-jwt"
    read_tier: str = "main"
    write_tier: str = "int"
    set_keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Key fields per entity set name (a stable `$orderby` when paging), for sets
    whose callers do not pass `keys=` themselves."""
    page_size: int | None = 500
    """`$top` per request; None leaves paging to the server (`@odata.nextLink` only)."""
    max_pages: int = 10_000
    rate_per_min: float = 1000.0
    etag_retries: int = 2
    """Re-reads after a 412 before an update is reported as a conflict."""
    max_url_length: int = 2000
    operations_per_min: float | None = None
    """A limit on operations (each request inside a `$batch` one), if the tenant has one."""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"https?://[^/\s?#]+/?", self.base_url):
            raise ValueError(
                "IFS base_url must be the host root, like https://acme.ifs.cloud, "
                f"got {self.base_url!r}"
            )
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.realm):
            raise ValueError(f"IFS realm must be a plain name like acme1, got {self.realm!r}")
        for tier in (self.read_tier, self.write_tier):
            if tier not in ("main", "int", "b2b"):
                raise ValueError(f"IFS tier must be main, int or b2b, got {tier!r}")

    @property
    def api_base(self) -> str:
        return self.base_url

    @property
    def label(self) -> str:
        return f"IFS {self.name}"

    @property
    def shared_by(self) -> str:
        return self.host

    @property
    def rate(self) -> Rate:
        return Rate.per_minute(self.rate_per_min, self.rate_burst)

    @property
    def token_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/auth/realms/{self.realm}/protocol/openid-connect/token"

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc


class Row(dict[str, Any]):
    """One entity as read, with its ETag kept under `@odata.etag`."""

    @property
    def etag(self) -> str | None:
        value = self.get(ETAG)
        return str(value) if value else None


_EXISTS = re.compile(r"\b[A-Z][A-Za-z0-9_]*\.EXIST:")
"""IFS's Record_Exist (`ORA-20112: ExtLoadInfo.EXIST: …`); not `….NOTEXIST:`."""
_PERIOD_CLOSED = re.compile(r"\.PERIODCLOSED:")
_PERIOD = re.compile(r"\b(\d{4}-\d{2})\b")
_NOT_MODIFIABLE = re.compile(r"\.NOTMODIFIABLE:")


def _text(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False) if not isinstance(body, str) else body


def classify_ifs(status: int, body: Any) -> ErrorKind | None:
    """IFS-specific classification on top of the status defaults."""
    error = body.get("error") if isinstance(body, dict) else None
    code = str(error.get("code") or "") if isinstance(error, dict) else ""
    text = _text(body)
    if code == "MI_MODIFIED_ERROR" or "FND_LOCKED" in text or "ORA-00054" in text:
        return ErrorKind.TRANSIENT
    if _EXISTS.search(text):
        return ErrorKind.CONFLICT  # IFS' Record_Exist: a create whose key is taken
    if _PERIOD_CLOSED.search(text) or _NOT_MODIFIABLE.search(text):
        return ErrorKind.REJECTED  # a business refusal: sending it again will not help
    if status == 500 and (code == "DATABASE_ERROR" or "ORA-" in text):
        return ErrorKind.REJECTED  # database-side validation, not an outage
    if code == "CSRF_ERROR":
        return ErrorKind.REJECTED
    return None


@dataclass(frozen=True)
class Refusal:
    """An IFS refusal with a failure reason of its own: `period_closed` (with the
    period, YYYY-MM), `target_locked` (the record can no longer be changed) or
    `duplicate` (a create whose key is taken)."""

    reason: str
    detail: str
    period: str | None = None


def refusal(exc: ApiError) -> Refusal | None:
    """What IFS refused, from its error body, when it is more than a plain rejection."""
    text = _text(exc.body) if exc.body is not None else exc.detail
    detail = api_message(exc.body) or exc.detail
    closed = _PERIOD_CLOSED.search(text)
    if closed is not None:
        period = _PERIOD.search(text, closed.end())
        return Refusal("period_closed", detail, period.group(1) if period else None)
    if _NOT_MODIFIABLE.search(text):
        return Refusal("target_locked", detail)
    if _EXISTS.search(text):
        return Refusal("duplicate", detail)
    return None


class IfsClient(ApiClient):
    """Reads and writes one IFS Cloud environment. Thread-safe; share one per connection."""

    def __init__(self, settings: IfsSettings) -> None:
        self.settings = settings
        super().__init__(settings, system="ifs", classify=classify_ifs, min_connections=4)

    def path(self, set_path: str, tier: str | None = None) -> str:
        """`/{tier}/ifsapplications/projection/v1/{P}.svc/{Set}` for a set path.

        `set_path` is `P.svc/Set`, or `entity/v1/XEntity.svc/Set` for the
        Entity Service API, which IFS serves on `/int/` only."""
        service = set_path.strip("/")
        if service.startswith("entity/"):
            tier = tier or "int"
        elif not service.startswith("projection/"):
            service = f"projection/v1/{service}"
        return f"/{tier or self.settings.read_tier}/ifsapplications/{service}"

    def keys_of(self, set_path: str) -> tuple[str, ...]:
        return tuple(self.settings.set_keys.get(set_path.rstrip("/").rsplit("/", 1)[-1], ()))

    def query(
        self,
        set_path: str,
        *,
        filter: str | None = None,
        select: Sequence[str] | None = None,
        orderby: Sequence[str] | None = None,
        top: int | None = None,
        tier: str | None = None,
        keys: Sequence[str] | None = None,
    ) -> Iterator[Row]:
        """Every row matching `filter`, page by page, each with its ETag.

        Follows `@odata.nextLink` verbatim when the server sends one, else
        pages with `$top/$skip` over `orderby` (default: the set's keys). A
        row seen twice (paging under concurrent change) is yielded once; a
        page or link that repeats, or paging that does not end within
        `max_pages`, raises instead of looping. `keys` are the set's key fields
        (default: `IfsSettings.set_keys`).
        """
        keys = tuple(keys) if keys is not None else self.keys_of(set_path)
        order = list(orderby or keys)
        page_size = self.settings.page_size
        if page_size is not None and not order:
            raise ValueError(
                f"paging {set_path} with $top/$skip needs a stable $orderby: pass orderby= "
                "or keys=, or add the set's keys to IfsSettings.set_keys"
            )
        if select and keys:
            select = [*select, *(k for k in keys if k not in select)]
        base = self.path(set_path, tier)
        pager = _Pager(self, set_path, keys)
        remaining = top
        skip = 0
        while remaining is None or remaining > 0:
            window = page_size if remaining is None else min(page_size or remaining, remaining)
            query = odata.query_string(
                filter=filter, select=select, orderby=order, top=window, skip=skip
            )
            url: str | None = f"{base}?{query}" if query else base
            received = 0
            while url is not None:
                rows, url = pager.fetch(url)
                received += len(rows)
                for row in rows:
                    if remaining is not None and remaining <= 0:
                        return
                    if pager.first_time(row):
                        if remaining is not None:
                            remaining -= 1
                        yield row
            if window is None or received < window:
                return
            skip += received

    def get(
        self,
        set_path: str,
        keys: Mapping[str, odata.Literal],
        *,
        select: Sequence[str] | None = None,
        tier: str | None = None,
    ) -> Row:
        """One entity by key, with its current ETag; NotFoundError if absent."""
        url = self.path(odata.entity_path(set_path, keys), tier)
        if select:
            url += "?" + odata.query_string(select=select)
        reply = self.transport.request("GET", url)
        return self._row(reply)

    def create(self, set_path: str, body: Mapping[str, Any]) -> Row:
        """POST a new entity on the write tier (`/int/`); returns it with its ETag.

        Raises OutcomeUnknownError if the answer was lost after sending: look
        the record up by its natural key before creating it again."""
        reply = self.transport.request(
            "POST", self.path(set_path, self.settings.write_tier), json_body=dict(body)
        )
        return self._row(reply)

    def update(
        self,
        set_path: str,
        keys: Mapping[str, odata.Literal],
        apply: Callable[[Row], Mapping[str, Any]],
    ) -> Row:
        """Apply `apply(current_row)` (the fields to change) with If-Match.

        Reads the current row and ETag, PATCHes only if something differs,
        and on 412 re-reads and re-applies, up to `etag_retries` times, then
        raises ConflictError. Returns the row as written."""
        write_tier = self.settings.write_tier
        url = self.path(odata.entity_path(set_path, keys), write_tier)
        conflict: ConflictError | None = None
        for _ in range(self.settings.etag_retries + 1):
            row = self.get(set_path, keys, tier=write_tier)
            changes = dict(apply(row))
            if _unchanged(row, changes):
                return row
            if row.etag is None:
                raise RejectedError(
                    f"IFS {self.settings.name}: the row has no ETag, so it cannot be updated "
                    "safely with If-Match",
                    method="PATCH",
                    url=self.transport.url(url),
                )
            try:
                reply = self.transport.request(
                    "PATCH",
                    url,
                    json_body=changes,
                    headers={"If-Match": row.etag, "Prefer": "return=representation"},
                )
            except ConflictError as exc:
                if exc.status != 412:
                    raise
                conflict = exc
                continue
            written = self._row(reply) if reply.data else Row({**row, **changes})
            if reply.data is None:
                written[ETAG] = reply.headers.get("etag")
            return written
        assert conflict is not None
        raise ConflictError(
            f"IFS {self.settings.name}: the record kept changing underneath "
            f"({self.settings.etag_retries + 1} reads, each answered 412 on write); "
            "re-run to try again",
            method="PATCH",
            url=conflict.url,
            status=412,
            body=conflict.body,
            attempts=self.settings.etag_retries + 1,
        )

    def delete(
        self, set_path: str, keys: Mapping[str, odata.Literal], *, etag: str | None = None
    ) -> bool:
        """Delete with If-Match (the given ETag, else the current one); re-reads on
        412 like `update`. Returns False if the entity was already gone."""
        url = self.path(odata.entity_path(set_path, keys), self.settings.write_tier)
        for _ in range(self.settings.etag_retries + 1):
            try:
                if etag is None:
                    etag = self.get(set_path, keys, tier=self.settings.write_tier).etag or "*"
                self.transport.request("DELETE", url, headers={"If-Match": etag})
                return True
            except NotFoundError:
                return False
            except ConflictError as exc:
                if exc.status != 412:
                    raise
                etag = None
        raise ConflictError(
            f"IFS {self.settings.name}: the record kept changing while being deleted",
            method="DELETE",
            url=self.transport.url(url),
            status=412,
        )

    def action(
        self,
        set_path: str,
        keys: Mapping[str, odata.Literal],
        name: str,
        *,
        etag: str | None = None,
        idempotent: bool = False,
    ) -> str | None:
        """Invoke bound action `name` (`IfsApp.{P}.{Entity}_{Action}`) on one entity,
        body `{}`, with If-Match (`etag`, else the current one); a 412 re-reads the
        ETag and invokes it again, up to `etag_retries` times. Returns the new ETag.
        Say `idempotent` when invoking it twice is harmless: only then is it resent
        after a lost answer."""
        write_tier = self.settings.write_tier
        url = self.path(f"{odata.entity_path(set_path, keys)}/{name}", write_tier)
        for _ in range(self.settings.etag_retries + 1):
            if etag is None:
                etag = self.get(set_path, keys, tier=write_tier).etag or "*"
            try:
                reply = self.transport.request(
                    "POST", url, json_body={}, headers={"If-Match": etag}, idempotent=idempotent
                )
            except ConflictError as exc:
                if exc.status != 412:
                    raise
                etag = None
                continue
            return reply.headers.get("etag")
        raise ConflictError(
            f"IFS {self.settings.name}: the record kept changing while {name} was invoked "
            f"({self.settings.etag_retries + 1} attempts answered 412); re-run to try again",
            method="POST",
            url=self.transport.url(url),
            status=412,
        )

    def batch(self, service: str, requests: Sequence[BatchRequest]) -> list[BatchAnswer]:
        """Send `requests` as one change set of a `$batch` to projection `service`
        (`ExternalVoucherHandling.svc`) on the write tier: all of them take effect or
        none. Returns their answers in order; a failed request raises the error it
        would have raised alone (classified, IFS's error body kept), naming its place
        in the change set. A lost answer raises OutcomeUnknownError, as a create does."""
        [answer] = self.batch_sets(service, [requests])
        if isinstance(answer, ApiError):
            raise answer
        return answer

    def batch_sets(
        self, service: str, change_sets: Sequence[Sequence[BatchRequest]]
    ) -> list[list[BatchAnswer] | ApiError]:
        """Send several change sets in one `$batch` (each all or nothing, each on its
        own: `Prefer: odata.continue-on-error`, so one refused set does not stop the
        others). Per change set, in order: its answers, or the error it alone raises
        (a refused request, as `batch` raises it; OutcomeUnknownError when the answer
        has no part for it). A whole request that fails raises, as any request does:
        a lost answer as OutcomeUnknownError, for every change set of it."""
        path = self.path(f"{service.strip('/')}/$batch", self.settings.write_tier)
        content_type, body = ifs_batch.encode(change_sets)
        self._operations(sum(len(requests) for requests in change_sets))
        reply = self.transport.request(
            "POST",
            path,
            content=body,
            headers={
                "Content-Type": content_type,
                "Accept": "multipart/mixed",
                "Prefer": "odata.continue-on-error",
            },
            raw=True,
        )
        try:
            items = ifs_batch.decode(reply.headers.get("content-type", ""), reply.content)
        except (BatchFormatError, ValueError) as exc:
            raise OutcomeUnknownError(
                f"IFS {self.settings.name}: the $batch answer cannot be read ({exc}); its "
                "change sets may have taken effect: look each up before sending it again",
                method="POST",
                url=reply.url,
                status=reply.status,
                retryable=False,
            ) from None
        found: list[list[BatchAnswer] | ApiError] = []
        for n, requests in enumerate(change_sets):
            answers = items[n] if n < len(items) else []
            failed = next((a for a in answers if not a.ok), None)
            if failed is not None:
                found.append(self._part_error(failed, requests, reply.url))
            elif len(answers) != len(requests):
                found.append(
                    OutcomeUnknownError(
                        f"IFS {self.settings.name}: the $batch answered {len(answers)} of "
                        f"the {len(requests)} requests of change set {n + 1} of "
                        f"{len(change_sets)}; look it up before sending it again",
                        method="POST",
                        url=reply.url,
                        status=reply.status,
                        retryable=False,
                    )
                )
            else:
                found.append(answers)
        return found

    def _operations(self, count: int) -> None:
        """Wait until `count` more operations fit the tenant's operations limit, if any
        (one limiter per host, as for requests)."""
        per_min = self.settings.operations_per_min
        if per_min is None or count < 1:
            return
        limiter = limiter_for("ifs-operations", self.settings.host, Rate.per_minute(per_min))
        wait = max(limiter.reserve() for _ in range(count))
        if wait > 0:
            time.sleep(wait)

    def _part_error(
        self, answer: BatchAnswer, requests: Sequence[BatchRequest], url: str
    ) -> ApiError:
        kind = classify_ifs(answer.status, answer.data) or kind_for_status(answer.status)
        sent = next((r for r in requests if r.content_id == answer.content_id), None)
        where = f"{sent.method} {sent.url}" if sent else f"Content-ID {answer.content_id}"
        return error_for(
            kind,
            f"IFS {self.settings.name}: {api_message(answer.data) or answer.status} "
            f"({where}, in a $batch change set: nothing of it was written)",
            method="POST",
            url=url,
            status=answer.status,
            body=answer.data,
            retryable=False,
        )

    def query_any_of(
        self,
        set_path: str,
        field: str,
        values: Iterable[odata.Literal],
        *,
        filter: str | None = None,
        select: Sequence[str] | None = None,
        keys: Sequence[str] | None = None,
    ) -> Iterator[Row]:
        """The rows whose `field` is one of `values` (and that match `filter`): one
        `$filter` of `or`-ed values per request, as many values per request as keep its
        URL within `max_url_length`."""
        keys = tuple(keys) if keys is not None else self.keys_of(set_path)
        order = list(keys or [field])
        chosen = [*select, *(k for k in (field, *keys) if k not in select)] if select else None
        in_chunks = self.chunks(
            set_path, values, lambda v: odata.eq(field, v), filter=filter,
            select=chosen or [field], orderby=order,
        )  # fmt: skip
        for chunk in in_chunks:
            yield from self.query(
                set_path,
                filter=odata.and_(filter, odata.any_of(field, chunk)),
                select=chosen,
                orderby=order,
                keys=keys,
            )

    def exists_by_keys(
        self,
        set_path: str,
        key_field: str,
        values: Iterable[odata.Literal],
        *,
        filter: str | None = None,
    ) -> set[Any]:
        """Which of `values` exist as `key_field` in the set: one request per chunk
        of keys, each chunk's URL kept under `max_url_length`."""
        found: set[Any] = set()
        in_chunks = self.chunks(
            set_path, values, lambda v: odata.eq(key_field, v), filter=filter,
            select=[key_field], orderby=[key_field],
        )  # fmt: skip
        for chunk in in_chunks:
            existing = {
                row.get(key_field)
                for row in self.query(
                    set_path,
                    filter=odata.and_(filter, odata.any_of(key_field, chunk)),
                    select=[key_field],
                    orderby=[key_field],
                )
            }
            found.update(v for v in chunk if v in existing)
        return found

    def map_concurrent(
        self, fn: Callable[[T], R], items: Iterable[T], *, return_exceptions: bool = False
    ) -> list[Any]:
        """`fn` over `items` on `concurrency` threads (see `http.map_concurrent`)."""
        return map_concurrent(
            fn, items, self.settings.concurrency, return_exceptions=return_exceptions
        )

    def chunks(
        self,
        set_path: str,
        values: Iterable[T],
        clause: Callable[[T], str],
        *,
        filter: str | None = None,
        select: Sequence[str] | None = None,
        orderby: Sequence[str] | None = None,
    ) -> Iterator[list[T]]:
        """`values` (each once, in order) in groups whose `or`-ed `clause`s, with
        `filter`, `select` and `orderby`, keep a query's URL within `max_url_length`
        (quotes, slashes and non-ASCII counted as encoded)."""
        base = self.transport.url(self.path(set_path))
        fixed = len(base) + len(
            "?"
            + odata.query_string(
                filter=odata.and_(filter, "x"), select=select or ["x"], orderby=orderby or ["x"]
            )
            + f"&$top={self.settings.page_size or 0}&$skip={10**9}"
        )
        budget = self.settings.max_url_length - fixed
        chunk: list[T] = []
        used = 0
        for value in dict.fromkeys(values):
            cost = len(odata.encode_value(f"({clause(value)}) or "))
            if chunk and used + cost > budget:
                yield chunk
                chunk, used = [], 0
            chunk.append(value)
            used += cost
        if chunk:
            yield chunk

    def _row(self, reply: Reply) -> Row:
        if not isinstance(reply.data, dict):
            raise TransientError(
                f"IFS {self.settings.name}: expected an entity object, got "
                f"{type(reply.data).__name__}",
                method="GET",
                url=reply.url,
                status=reply.status,
                retryable=False,
            )
        row = Row(reply.data)
        if not row.get(ETAG) and reply.headers.get("etag"):
            row[ETAG] = reply.headers["etag"]
        return row


class _Pager:
    """Fetches pages of one query and refuses to loop: repeated links, repeated
    pages and more than `max_pages` pages raise."""

    def __init__(self, client: IfsClient, set_path: str, keys: tuple[str, ...]) -> None:
        self.client = client
        self.set_path = set_path
        self.keys = keys
        self.pages = 0
        self._links: set[str] = set()
        self._fingerprints: set[str] = set()
        self._seen: set[tuple[Any, ...]] = set()
        origin = urlsplit(client.transport.url("/"))
        self._origin = (origin.scheme, origin.netloc)

    def fetch(self, url: str) -> tuple[list[Row], str | None]:
        self.pages += 1
        transport = self.client.transport
        if self.pages > self.client.settings.max_pages:
            raise self._broken(url, f"paging did not end within {self.pages - 1} pages")
        reply = transport.request("GET", url)
        data = reply.data
        if not isinstance(data, dict) or not isinstance(data.get("value"), list):
            raise self._broken(
                reply.url, "the answer is not an OData collection ({'value': [...]})"
            )
        rows = [Row(r) for r in data["value"] if isinstance(r, dict)]
        fingerprint = self._fingerprint(rows)
        if rows and fingerprint in self._fingerprints:
            raise self._broken(reply.url, f"page {self.pages} repeats an earlier page")
        self._fingerprints.add(fingerprint)
        session = data.get(NEXT_LINK)
        if not session:
            return rows, None
        absolute = str(httpx.URL(reply.url).join(str(session)))
        parts = urlsplit(absolute)
        if (parts.scheme, parts.netloc) != self._origin:
            raise self._broken(reply.url, f"@odata.nextLink leaves the host: {parts.netloc}")
        if absolute in self._links:
            raise self._broken(reply.url, "@odata.nextLink repeats an earlier link")
        self._links.add(absolute)
        return rows, absolute

    def first_time(self, row: Row) -> bool:
        if not self.keys:
            return True
        key = tuple(row.get(k) for k in self.keys)
        if key in self._seen:
            return False
        self._seen.add(key)
        return True

    def _fingerprint(self, rows: list[Row]) -> str:
        if self.keys:
            content: Any = [[str(r.get(k)) for k in self.keys] for r in rows]
        else:
            content = rows
        return hashlib.sha256(encode_json(content)).hexdigest()

    def _broken(self, url: str, problem: str) -> RejectedError:
        return RejectedError(
            f"IFS {self.client.settings.name}: paging {self.set_path} stopped: {problem}; "
            "the server's paging is broken, so reading on could loop forever",
            method="GET",
            url=url if "://" in url else self.client.transport.url(url),
        )


def _unchanged(row: Row, changes: Mapping[str, Any]) -> bool:
    """True if every field in `changes` already has that value (compared as JSON)."""
    return all(decode_json(encode_json(value)) == row.get(name) for name, value in changes.items())
