"""ServiceTitan REST v2 client: tenant paths, page envelopes, export feeds, money.

Every call carries the bearer token and `ST-App-Key`; the tenant id is checked
(digits only) before it is put into any path. Lists are read through the
`{page, pageSize, hasMore, data}` envelope, exports through `continueFrom`,
`ids` look-ups in chunks of 50. Money arrives as strings or numbers and is
turned into Decimal with `money()`, never float.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from connector_dagster.lib.errors import RejectedError
from connector_dagster.lib.http import (
    encode_json,
    map_concurrent,
)
from connector_dagster.lib.numbers import amount
from connector_dagster.lib.ratelimit import Rate
from connector_dagster.systems.client import ApiClient, ClientSettings

T = TypeVar("T")
R = TypeVar("R")

_TENANT = re.compile(r"^[0-9]{1,19}$")
_MODULE = re.compile(r"^[a-z][a-z0-9-]*$")
_SEGMENT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")

Params = Mapping[str, Any]


def valid_tenant_id(tenant_id: object) -> str:
    """The tenant id as a string of digits; ValueError for anything else
    (`123/../456` would otherwise walk out of the tenant's path)."""
    text = str(tenant_id)
    if isinstance(tenant_id, bool) or not _TENANT.match(text):
        raise ValueError(f"ServiceTitan tenant id must be digits only, got {text!r}")
    return text


@dataclass(frozen=True, kw_only=True)
class ServiceTitanSettings(ClientSettings):
    """One ServiceTitan connection: URLs, tenant, app key, credentials, limits."""

    api_url: str
    auth_url: str
    tenant_id: str
    app_key: str = field(repr=False)
    rate_per_s: float = 60.0
    concurrency: int = 16
    page_size: int = 500
    max_pages: int = 100_000
    ids_per_call: int = 50
    timeout_s: float = 100.0
    token_margin_s: float = 60.0
    token_lifetime_s: float = 900.0

    @property
    def api_base(self) -> str:
        return self.api_url

    @property
    def label(self) -> str:
        return f"ServiceTitan {self.name} (tenant {self.tenant_id})"

    @property
    def token_url(self) -> str:
        return self.auth_url

    @property
    def shared_by(self) -> str:
        return f"{urlsplit(self.api_url).netloc}/{self.tenant_id}"

    @property
    def rate(self) -> Rate:
        return Rate.per_second(self.rate_per_s, self.rate_burst)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tenant_id", valid_tenant_id(self.tenant_id))
        if not 1 <= self.ids_per_call <= 50:
            raise ValueError(f"ids_per_call must be 1..50, got {self.ids_per_call}")


@dataclass(frozen=True)
class ExportPage:
    """One call of an export feed: its rows and the token to continue from.

    Store `continue_from` once the rows are processed; pass it back next time."""

    rows: list[dict[str, Any]]
    continue_from: str
    has_more: bool


def money(value: str | int | Decimal | float) -> Decimal:
    """An amount as Decimal, from a string (`"273.13"`) or a JSON number.

    A float (only if some caller parsed JSON without Decimal) is read from its
    shortest text form, so 2.35 stays 2.35; no float arithmetic happens."""
    if not isinstance(value, str | int | Decimal | float):
        raise ValueError(f"not an amount: {value!r}")
    return amount(value)


class ServiceTitanClient(ApiClient):
    """Reads and writes one ServiceTitan tenant. Thread-safe; share one per connection."""

    def __init__(self, settings: ServiceTitanSettings) -> None:
        self.settings = settings
        super().__init__(
            settings,
            system="servicetitan",
            headers={"ST-App-Key": settings.app_key},
            min_connections=8,
        )

    def path(self, module: str, path: str, params: Params | None = None) -> str:
        """`/{module}/v2/tenant/{tenant}/{path}?{params}` with every part checked."""
        if not _MODULE.match(module):
            raise ValueError(f"not a ServiceTitan module name: {module!r}")
        segments = [str(p) for p in path.strip("/").split("/")]
        for segment in segments:
            if not _SEGMENT.match(segment) or segment in (".", ".."):
                raise ValueError(f"unsafe path segment {segment!r} in {path!r}")
        tenant = valid_tenant_id(self.settings.tenant_id)
        url = f"/{module}/v2/tenant/{tenant}/{'/'.join(segments)}"
        query = _query(params)
        return f"{url}?{query}" if query else url

    def get(self, module: str, path: str, params: Params | None = None) -> Any:
        """GET one resource (or a raw list) and return the parsed JSON."""
        return self.transport.request("GET", self.path(module, path, params)).data

    def iter_pages(
        self,
        module: str,
        path: str,
        params: Params | None = None,
        *,
        page_size: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every row of a paged list, page by page, until `hasMore` is false.

        Pass `{"active": "Any"}` to include inactive records (the API's default
        is active only). A bare JSON array (some endpoints) is taken whole. A
        page that repeats, a `hasMore` with no rows, or more than `max_pages`
        pages raise instead of looping."""
        size = page_size or self.settings.page_size
        seen: set[str] = set()
        number = 1
        while True:
            if number > self.settings.max_pages:
                raise self._broken(module, path, f"paging did not end within {number - 1} pages")
            url = self.path(module, path, {**(params or {}), "page": number, "pageSize": size})
            data = self.transport.request("GET", url).data
            if isinstance(data, list):
                yield from data
                return
            if not isinstance(data, dict) or not isinstance(data.get("data"), list):
                raise self._broken(module, path, "the answer is not a page envelope")
            rows = data["data"]
            fingerprint = _fingerprint(rows)
            if rows and fingerprint in seen:
                raise self._broken(module, path, f"page {number} repeats an earlier page")
            seen.add(fingerprint)
            yield from rows
            if not data.get("hasMore"):
                return
            if not rows:
                raise self._broken(module, path, f"page {number} is empty but hasMore is true")
            number += 1

    def map_pages(
        self,
        module: str,
        path: str,
        params: Params | None,
        fn: Callable[[list[dict[str, Any]]], R],
        *,
        page_size: int | None = None,
        workers: int | None = None,
    ) -> list[R]:
        """`fn` over the rows of each page of a paged list, in page order.

        The first page is asked with `includeTotal`; its `totalCount` says how many
        pages follow, and those are read `workers` at a time (default the client's
        concurrency): N pages cost N requests of the rate limit, as one after the
        other would, but not N round trips in a row. Only `fn`'s results are kept: a
        page's rows are let go once `fn` has run (on the worker's thread). A server
        that gives no total, or a last page that says `hasMore` (rows added
        meanwhile), is read on page by page. As with any paging, a list that changes
        while it is read may repeat or skip rows: key them by id."""
        size = page_size or self.settings.page_size
        base = dict(params or {})
        first = self._page(module, path, {**base, "includeTotal": "true"}, 1, size)
        results = [fn(first["data"])]
        more = bool(first.get("hasMore"))
        if not more:
            return results
        if not first["data"]:
            raise self._broken(module, path, "page 1 is empty but hasMore is true")
        size = int(first.get("pageSize") or size)  # the server's own cap, if lower
        total = first.get("totalCount")
        last = -(-total // size) if isinstance(total, int) and total > 0 else 1
        if last > self.settings.max_pages:
            raise self._broken(module, path, f"{total} rows need more than {last - 1} pages")

        def read(number: int) -> tuple[R, bool]:
            page = self._page(module, path, base, number, size)
            if page.get("hasMore") and not page["data"]:
                raise self._broken(module, path, f"page {number} is empty but hasMore is true")
            return fn(page["data"]), bool(page.get("hasMore"))

        found = map_concurrent(read, range(2, last + 1), workers or self.settings.concurrency)
        results.extend(result for result, _ in found)
        number, more = last, found[-1][1] if found else more
        while more:
            number += 1
            if number > self.settings.max_pages:
                raise self._broken(module, path, f"paging did not end within {number - 1} pages")
            result, more = read(number)
            results.append(result)
        return results

    def _page(
        self, module: str, path: str, params: dict[str, Any], number: int, size: int
    ) -> dict[str, Any]:
        """Page `number` of a paged list, its envelope checked."""
        url = self.path(module, path, {**params, "page": number, "pageSize": size})
        data = self.transport.request("GET", url).data
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise self._broken(module, path, "the answer is not a page envelope")
        return data

    def export(
        self,
        module: str,
        resource: str,
        continue_from: str | None = None,
        *,
        include_recent_changes: bool = False,
    ) -> Iterator[ExportPage]:
        """Walk `/{module}/.../export/{resource}` from `continue_from` (None: from
        the start; or a date) until caught up. Yields each call's rows with the
        new token; the caller stores the token after processing the rows.
        Rows may repeat (upsert by id); inactive and deleted rows are included."""
        token = continue_from
        seen: set[str] = set()
        for _ in range(self.settings.max_pages):
            params: dict[str, Any] = {"from": token} if token else {}
            if include_recent_changes:
                params["includeRecentChanges"] = "true"
            data = self.get(module, f"export/{resource}", params)
            if not isinstance(data, dict) or not isinstance(data.get("data"), list):
                raise self._broken(module, f"export/{resource}", "not an export envelope")
            new = str(data.get("continueFrom") or "")
            has_more = bool(data.get("hasMore"))
            yield ExportPage(list(data["data"]), new or (token or ""), has_more)
            if not has_more:
                return
            if not new or new == token or new in seen:
                raise self._broken(
                    module, f"export/{resource}", "hasMore is true but continueFrom did not move"
                )
            seen.add(new)
            token = new
        raise self._broken(
            module,
            f"export/{resource}",
            f"export did not catch up within {self.settings.max_pages} calls",
        )

    def get_by_ids(
        self,
        module: str,
        path: str,
        ids: Iterable[int],
        params: Params | None = None,
    ) -> list[dict[str, Any]]:
        """Rows for `ids`, asked for `ids_per_call` (≤ 50) at a time. Pass
        `{"active": "Any"}` to find inactive ones too. Missing ids are absent."""
        unique = list(dict.fromkeys(int(i) for i in ids))
        step = self.settings.ids_per_call
        rows: list[dict[str, Any]] = []
        for start in range(0, len(unique), step):
            chunk = unique[start : start + step]
            rows.extend(
                self.iter_pages(
                    module,
                    path,
                    {**(params or {}), "ids": ",".join(map(str, chunk))},
                    page_size=max(step, len(chunk)),
                )
            )
        return rows

    def create(self, module: str, path: str, body: Mapping[str, Any]) -> Any:
        """POST a new record. Not idempotent: if the answer is lost the call raises
        OutcomeUnknownError and is not resent; look the record up by the
        provenance written into it before creating again."""
        return self.transport.request("POST", self.path(module, path), json_body=body).data

    def patch(self, module: str, path: str, body: Mapping[str, Any]) -> Any:
        """PATCH fields of a record (retried: the same fields set twice is harmless)."""
        return self.transport.request("PATCH", self.path(module, path), json_body=body).data

    def put(self, module: str, path: str, body: Mapping[str, Any]) -> Any:
        """PUT a whole record (retried: the same record saved twice is harmless; a
        `versionId` in the body makes a stale save fail rather than overwrite)."""
        return self.transport.request("PUT", self.path(module, path), json_body=body).data

    def delete(self, module: str, path: str) -> Any:
        """DELETE a record (retried: deleting twice leaves it deleted)."""
        return self.transport.request("DELETE", self.path(module, path)).data

    def post(self, module: str, path: str, body: Any, *, idempotent: bool) -> Any:
        """POST an action. Say whether sending it twice is harmless (e.g.
        `markasexported`): only then is it retried after a lost answer."""
        return self.transport.request(
            "POST", self.path(module, path), json_body=body, idempotent=idempotent
        ).data

    def map_concurrent(
        self, fn: Callable[[T], R], items: Iterable[T], *, return_exceptions: bool = False
    ) -> list[Any]:
        """`fn` over `items` on `concurrency` threads (see `http.map_concurrent`)."""
        return map_concurrent(
            fn, items, self.settings.concurrency, return_exceptions=return_exceptions
        )

    def _broken(self, module: str, path: str, problem: str) -> RejectedError:
        return RejectedError(
            f"{self.transport.label}: reading {module}/{path} stopped: {problem}; "
            "the server's paging is broken, so reading on could loop forever",
            method="GET",
            url=self.transport.url(self.path(module, path)),
        )


def _query(params: Params | None) -> str:
    if not params:
        return ""
    clean: dict[str, Any] = {}
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, datetime):
            utc = value.astimezone(UTC).isoformat(timespec="milliseconds")
            value = utc.replace("+00:00", "Z")
        clean[name] = value
    return str(httpx.QueryParams(clean))


def _fingerprint(rows: list[Any]) -> str:
    content = [r.get("id") if isinstance(r, dict) and "id" in r else r for r in rows]
    return hashlib.sha256(encode_json(content)).hexdigest()
