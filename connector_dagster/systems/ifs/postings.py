"""GL posting sets in IFS (a header and its balanced rows: an external voucher, a posting
proposal), written through the IFS client: found again by their reference, created as
one `$batch` change set or request by request, brought to a wanted state field by
field with If-Match, checked by IFS, deleted; a period's sets read back with their rows
and summed by account and code parts. Names no flow: a flow's target says what the
header and rows hold."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from connector_dagster.lib.errors import ApiError, ErrorKind, OutcomeUnknownError
from connector_dagster.lib.grouping import Grouper
from connector_dagster.systems.ifs import odata
from connector_dagster.systems.ifs.batch import BatchAnswer, BatchRequest
from connector_dagster.systems.ifs.client import IfsClient, Row

Values = Mapping[str, Any]


@dataclass(frozen=True)
class PostingSets:
    """Where IFS keeps one kind of posting set, and how a header is keyed and checked."""

    headers_set: str
    """`ExternalVoucherHandling.svc/ExternalVoucherSet`."""
    rows_set: str
    """`ExternalVoucherHandling.svc/ExternalVoucherRowSet`: rows by their own keys."""
    rows_nav: str
    """The header's navigation to its rows (`ExternalVoucherRowArray`): rows are created there."""
    header_keys: tuple[str, ...]
    """The header's keys (`Company`, `LoadId`); a row's keys are these and `row_key`."""
    numeric_keys: tuple[str, ...] = ()
    """Keys that are numbers (`ProposalId`), the others being text (`LoadId`)."""
    row_key: str = "RowNo"
    reference: str = "Reference"
    """The header field holding the source document's reference (indexed in IFS)."""
    date_field: str = "VoucherDate"
    """The header field holding the business date, which says the set's period."""
    check_action: str | None = None
    """A bound action IFS runs on a complete set (`IfsApp.….ExternalVoucher_Check`)."""
    checked_state: str = "Checked"
    """The header's `Objstate` once `check_action` has passed."""

    @property
    def service(self) -> str:
        """The projection or entity service of the headers: `ExternalVoucherHandling.svc`."""
        return self.headers_set.rsplit("/", 1)[0]

    @property
    def set_name(self) -> str:
        return self.headers_set.rsplit("/", 1)[-1]

    def key_text(self, header: Values) -> str:
        """A header's keys as one text, `ACME01/17`: the target id of a posting set."""
        return "/".join(str(_plain(header[k])) for k in self.header_keys)

    def keys(self, text: str) -> dict[str, odata.Literal]:
        """The header keys of a target id made by `key_text`."""
        parts = text.split("/", len(self.header_keys) - 1)
        if len(parts) != len(self.header_keys) or not all(parts):
            raise ValueError(
                f"{text!r} is not a key of {self.set_name} ({'/'.join(self.header_keys)})"
            )
        return {
            k: (Decimal(v) if k in self.numeric_keys else v)
            for k, v in zip(self.header_keys, parts, strict=True)
        }


def _plain(value: Any) -> Any:
    """A number key as its integer text (17, not 17.0)."""
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value


def differs(current: Any, wanted: Any) -> bool:
    """Whether IFS's value is not the wanted one: numbers compared as numbers (50 and
    50.00 agree), empty and null alike."""
    if current in (None, "") and wanted in (None, ""):
        return False
    numbers = (Decimal, int, float)
    if isinstance(current, numbers) or isinstance(wanted, numbers):
        try:
            return Decimal(str(current)) != Decimal(str(wanted))
        except InvalidOperation:
            return True
    return current != wanted


CODE_PART = re.compile(r"^Code[B-J]$")
"""A code part of a GL row (`CodeB` … `CodeJ`); `Account` is code part A."""


def amounts(company: Any, rows: Iterable[Values]) -> dict[tuple[str, ...], Decimal]:
    """The debits and credits (company currency) of a set's rows, exact, summed by
    (`company C`, `account A`, the code parts the rows carry, `debit` | `credit`); code
    parts as text, `CodeB 501` (several joined by `, `, none as `no code part`)."""
    sums: dict[tuple[str, ...], Decimal] = defaultdict(Decimal)
    for row in rows:
        parts = ", ".join(
            f"{name} {value}"
            for name, value in sorted(row.items())
            if CODE_PART.match(name) and value not in (None, "")
        )
        where = (f"company {company}", f"account {row.get('Account')}", parts or "no code part")
        for measure, field in (("debit", "DebetAmount"), ("credit", "CreditAmount")):
            value = Decimal(str(row.get(field) or 0))
            if value:
                sums[(*where, measure)] += value
    return dict(sums)


def changes(current: Values, wanted: Values, previous: Values | None) -> dict[str, Any]:
    """The wanted fields IFS does not hold. Knowing what was written last (`previous`),
    a field whose wanted value did not change since is left as IFS has it (a person
    may have edited it there)."""
    return {
        name: value
        for name, value in wanted.items()
        if differs(current.get(name), value)
        and (previous is None or differs(previous.get(name), value))
    }


def unlike(
    header: Values, rows: Sequence[Values], sent: Values, sent_rows: Sequence[Values]
) -> list[str]:
    """How a posting set IFS holds (`header`, its `rows` in row order) differs from the
    one sent (`sent`, `sent_rows`): each header field and row that IFS holds otherwise;
    empty when it is that set. IFS may hold fewer rows than were sent (a create stopped
    half-way, which the next write completes), never other or more."""
    why = [
        f"its {name} is {header.get(name)!r}, not {value!r}"
        for name, value in sent.items()
        if differs(header.get(name), value)
    ]
    if len(rows) > len(sent_rows):
        why.append(f"it has {len(rows)} rows where {len(sent_rows)} were sent")
    for n, (row, wanted) in enumerate(zip(rows, sent_rows, strict=False), start=1):
        fields = [name for name, value in wanted.items() if differs(row.get(name), value)]
        if fields:
            why.append(f"its row {n} differs in {', '.join(fields)}")
    return why


class PostingWriter:
    """Writes posting sets of one kind into one IFS environment."""

    def __init__(
        self,
        client: IfsClient,
        sets: PostingSets,
        *,
        batch: bool = False,
        batch_max_requests: int = 100,
        batch_documents: int = 1,
        batch_linger_s: float = 0.05,
    ) -> None:
        self.client = client
        self.sets = sets
        self.batch = batch
        self.batch_max_requests = batch_max_requests
        self.batches: Grouper[list[BatchRequest], list[BatchAnswer]] = Grouper(
            self._send_batch,
            size=batch_documents,
            linger_s=batch_linger_s,
            max_weight=batch_max_requests,
        )
        """The creates of concurrent threads, `batch_documents` change sets to a `$batch`."""

    def find(self, references: Iterable[str], select: Sequence[str] = ()) -> dict[str, list[Row]]:
        """Headers by reference, for many references at once: one `$filter` of `or`-ed
        references per request, as many as keep the URL within the client's limit."""
        wanted = list(dict.fromkeys(references))
        found: dict[str, list[Row]] = defaultdict(list)
        if not wanted:
            return found
        fields = [*self.sets.header_keys, self.sets.reference, *select]
        for row in self.client.query_any_of(
            self.sets.headers_set,
            self.sets.reference,
            wanted,
            select=list(dict.fromkeys(fields)),
            keys=self.sets.header_keys,
        ):
            found[str(row.get(self.sets.reference))].append(row)
        return found

    def create(self, header: Values, rows: Sequence[Values]) -> str:
        """Create the header, its rows and run the check; returns the header's key text.
        With `$batch` on (and few enough rows), all of it is one atomic change set, sent
        in one `$batch` with those of the documents other threads create meanwhile
        (`batch_documents` at most, or those that joined within the linger); otherwise
        request by request, and a set that fails half-way (refused, or the target not
        answering in time) is deleted again."""
        requests = len(rows) + 1 + (1 if self.sets.check_action else 0)
        if self.batch and requests <= self.batch_max_requests:
            return self._create_batch(header, rows)
        return self._create_each(header, rows)

    def _create_batch(self, header: Values, rows: Sequence[Values]) -> str:
        sets = self.sets
        requests = [BatchRequest("POST", sets.set_name, header, "1")]
        requests += [
            BatchRequest("POST", f"$1/{sets.rows_nav}", row, str(n))
            for n, row in enumerate(rows, start=2)
        ]
        if sets.check_action:
            requests.append(
                BatchRequest(
                    "POST", f"$1/{sets.check_action}", {}, str(len(rows) + 2), {"If-Match": "$1"}
                )
            )
        answers = self.batches.submit(requests, sets.service, weight=len(requests))
        created = answers[0].data
        if not isinstance(created, dict) or any(k not in created for k in sets.header_keys):
            raise OutcomeUnknownError(
                f"IFS {self.client.settings.name}: the $batch created a {sets.set_name} but "
                "its answer names no keys; look it up by reference",
                method="POST",
                url=self.client.transport.url(self.client.path(f"{sets.service}/$batch")),
                status=answers[0].status,
                body=created,
            )
        return sets.key_text(created)

    def _send_batch(
        self, service: Hashable, change_sets: Sequence[list[BatchRequest]]
    ) -> list[list[BatchAnswer] | ApiError]:
        """One `$batch` of the change sets of several documents, each answered on its own;
        a lost answer is every document's, each its own OutcomeUnknownError."""
        try:
            return self.client.batch_sets(str(service), change_sets)
        except OutcomeUnknownError as exc:
            if len(change_sets) == 1:
                raise
            return [
                OutcomeUnknownError(
                    f"{exc.detail} (one of {len(change_sets)} documents of the $batch)",
                    method=exc.method,
                    url=exc.url,
                    status=exc.status,
                    body=exc.body,
                    retryable=False,
                    attempts=exc.attempts,
                )
                for _ in change_sets
            ]

    def _create_each(self, header: Values, rows: Sequence[Values]) -> str:
        sets = self.sets
        created = self.client.create(sets.headers_set, header)
        text = sets.key_text(created)
        keys = sets.keys(text)
        try:
            try:
                for row in rows:
                    self.client.create(self._rows_path(keys), row)
                if sets.check_action:
                    self.client.action(
                        sets.headers_set, keys, sets.check_action, etag=created.etag,
                        idempotent=True,
                    )  # fmt: skip
            except OutcomeUnknownError:
                self.update(text, header, rows)  # an answer was lost: finish from IFS's
        except ApiError as exc:
            if exc.kind is not ErrorKind.AUTH:
                # A half-written set (a credit without its debit) must not stay in IFS:
                # it is taken back; if even that fails, the next run finds it by its
                # reference and completes it.
                with suppress(ApiError):
                    self.client.delete(sets.headers_set, keys)
            raise
        return text

    def _rows_path(self, keys: Mapping[str, odata.Literal]) -> str:
        return f"{odata.entity_path(self.sets.headers_set, keys)}/{self.sets.rows_nav}"

    def rows(self, target_id: str) -> list[Row]:
        """The set's rows as IFS holds them, in row order."""
        keys = self.sets.keys(target_id)
        found = self.client.query(
            self.sets.rows_set,
            filter=odata.and_(*(odata.eq(k, v) for k, v in keys.items())),
            keys=(*self.sets.header_keys, self.sets.row_key),
        )
        return sorted(found, key=lambda r: Decimal(str(r[self.sets.row_key])))

    def dated(
        self, start: date, end: date, prefixes: Sequence[str], select: Sequence[str] = ()
    ) -> list[Row]:
        """Headers dated in [start, end) whose reference starts with one of `prefixes`:
        one filtered query, paged."""
        sets = self.sets
        fields = [*sets.header_keys, sets.reference, sets.date_field, *select]
        return list(
            self.client.query(
                sets.headers_set,
                filter=odata.and_(
                    odata.ge(sets.date_field, start),
                    odata.lt(sets.date_field, end),
                    odata.or_(*(odata.startswith(sets.reference, p) for p in prefixes)),
                ),
                select=list(dict.fromkeys(fields)),
                keys=sets.header_keys,
            )
        )

    def rows_of(
        self, headers: Iterable[Values], select: Sequence[str] = ()
    ) -> dict[str, list[Row]]:
        """The rows of many sets, by the set's key text, in row order: per company (the
        header keys but the last), one `$filter` of `or`-ed set keys per request, as many
        as keep the URL within the client's limit."""
        sets = self.sets
        *outer, inner = sets.header_keys
        wanted: dict[tuple[Any, ...], list[odata.Literal]] = defaultdict(list)
        for header in headers:
            keys = sets.keys(sets.key_text(header))
            wanted[tuple(keys[k] for k in outer)].append(keys[inner])
        fields = [*sets.header_keys, sets.row_key, *select]
        found: dict[str, list[Row]] = defaultdict(list)
        for values, inners in wanted.items():
            for row in self.client.query_any_of(
                sets.rows_set,
                inner,
                inners,
                filter=odata.and_(*(odata.eq(k, v) for k, v in zip(outer, values, strict=True))),
                select=list(dict.fromkeys(fields)),
                keys=(*sets.header_keys, sets.row_key),
            ):
                found[sets.key_text(row)].append(row)
        for rows in found.values():
            rows.sort(key=lambda r: Decimal(str(r[sets.row_key])))
        return dict(found)

    def update(
        self,
        target_id: str,
        header: Values,
        rows: Sequence[Values],
        previous: Values | None = None,
    ) -> bool:
        """Bring the set to `header` and `rows` (row i of `rows` is the i-th row by row
        number): changed fields PATCHed with If-Match from a fresh read (412: re-read and
        re-applied, bounded), missing rows created, extra rows deleted, then checked again.
        `previous` (`{"header", "rows"}` as last written) keeps a person's edits of fields
        whose wanted value did not change. Returns whether anything was written."""
        sets = self.sets
        keys = sets.keys(target_id)
        before = previous or {}
        last_header = before.get("header")
        last_rows = before.get("rows") or []
        current = self.client.get(sets.headers_set, keys, tier=self.client.settings.write_tier)
        written = False
        if changes(current, header, last_header):
            self.client.update(
                sets.headers_set, keys, lambda row: changes(row, header, last_header)
            )
            written = True
        existing = self.rows(target_id)
        for n, row in enumerate(rows):
            last = last_rows[n] if previous is not None and n < len(last_rows) else None
            if n >= len(existing):
                self.client.create(self._rows_path(keys), row)
                written = True
            elif changes(existing[n], row, last):
                row_keys = {**keys, sets.row_key: existing[n][sets.row_key]}
                self.client.update(
                    sets.rows_set, row_keys, lambda r, row=row, last=last: changes(r, row, last)
                )
                written = True
        for extra in existing[len(rows) :]:
            self.client.delete(sets.rows_set, {**keys, sets.row_key: extra[sets.row_key]})
            written = True
        if sets.check_action and (written or current.get("Objstate") != sets.checked_state):
            self.client.action(sets.headers_set, keys, sets.check_action, idempotent=True)
        return written

    def delete(self, target_id: str) -> bool:
        """Delete the set with its rows (If-Match); False when it was gone already."""
        return self.client.delete(self.sets.headers_set, self.sets.keys(target_id))
