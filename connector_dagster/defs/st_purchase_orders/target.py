"""F5's target: IFS purchase orders in the write protocol.

IFS has no idempotency key, so every create is looked up first
(`lookup_before_create`): one query per page of POs, split to keep each URL short,
by the marker in the reference field and by the bare number as OrderNo or reference
(a weaker match: a conflict, never adopted). A PO with the marker is adopted only when
it is what this connector sent: entered no earlier than the record's intent (IFS keeps
the day only) and holding the payload's header and lines (fewer lines when a create
stopped half-way); any other is a conflict naming it. A create posts the header on
/int/, then each line on the Entity Service; a key already taken (`.EXIST`) or a
lost answer is settled by a look-up, never by a second PO. An update sends, with
If-Match, only the header fields and lines that differ from what ServiceTitan says
(fields a person may edit in IFS only when their mapped value changed); a PO IFS no
longer lets change is `target_locked`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from connector_dagster.defs.st_purchase_orders.settings import RaisedPurchaseOrderSettings
from connector_dagster.engine.adoption import Conflicts, judge
from connector_dagster.engine.records import Ambiguous, Outbound
from connector_dagster.engine.session import FlowPart
from connector_dagster.engine.sync import LOOKUP_SKEW, RecordFailure
from connector_dagster.kits.purchase_orders.provenance import reference_marker
from connector_dagster.lib.errors import (
    ApiError,
    ConflictError,
    ErrorKind,
    NotFoundError,
    OutcomeUnknownError,
    RejectedError,
    TransientError,
)
from connector_dagster.lib.numbers import decimal_or_none
from connector_dagster.systems.ifs import odata
from connector_dagster.systems.ifs.client import IfsClient, Row, refusal

HEADER_EDITABLE = ("NoteText", "WantedReceiptDate")
LINE_EDITABLE = ("Description", "WantedDeliveryDate")
"""Fields a buyer may edit in IFS: rewritten only when their mapped value changes."""
LINE_KEYS = ("OrderNo", "LineNo", "ReleaseNo")
ENTERED_SLACK = timedelta(days=1)
"""IFS dates `DateEntered` in its own time zone, by the day: a PO entered the day before
the intent (UTC) may still be the connector's."""
CREATE_ATTEMPTS = 2


def _differs(current: Any, wanted: Any) -> bool:
    if isinstance(wanted, Decimal):
        return decimal_or_none(current) != wanted
    return current != wanted


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _label(record: Outbound) -> str:
    number = (record.payload or {}).get("number")
    return f"PO {number!r} (ServiceTitan id {record.key})"


def _changes(
    current: Mapping[str, Any],
    wanted: Mapping[str, Any],
    before: Mapping[str, Any] | None,
    editable: Sequence[str],
) -> dict[str, Any]:
    """The fields of `wanted` that differ from `current`; an editable one only when
    its mapped value changed since `before` (never when there is no `before`)."""
    return {
        k: v
        for k, v in wanted.items()
        if _differs(current.get(k), v)
        and (k not in editable or (before is not None and k in before and before[k] != v))
    }


class IfsRaisedPurchaseOrders(FlowPart[RaisedPurchaseOrderSettings]):
    """IFS purchase orders as F5's target."""

    lookup_before_create = True

    @property
    def ifs(self) -> IfsClient:
        return self.session.ifs

    def marker(self, number: str) -> str:
        return reference_marker(number, self.session.name)

    # -- look-up ------------------------------------------------------------------------------

    def _clauses(self, number: str) -> list[str]:
        field = self.settings.reference_field
        return [
            odata.eq(field, self.marker(number)),
            odata.eq(field, number),
            odata.eq("OrderNo", number),
        ]

    def candidates(self, numbers: Sequence[str], fields: Sequence[str] = ()) -> list[Row]:
        """IFS POs whose reference is the marker or the bare number of one of `numbers`,
        or whose OrderNo is one of them (with `fields` too): one request per chunk."""
        select = list(dict.fromkeys(["OrderNo", self.settings.reference_field, *fields]))
        rows: list[Row] = []
        in_chunks = self.ifs.chunks(
            self.settings.headers_set, numbers,
            lambda n: " or ".join(f"({c})" for c in self._clauses(n)),
            select=select, orderby=["OrderNo"],
        )  # fmt: skip
        for chunk in in_chunks:
            rows.extend(
                self.ifs.query(
                    self.settings.headers_set,
                    filter=odata.or_(*(c for n in chunk for c in self._clauses(n))),
                    select=select,
                    orderby=["OrderNo"],
                    keys=("OrderNo",),
                )
            )
        return rows

    def lookup(self, records: Sequence[Outbound], since: datetime) -> dict[str, str | Ambiguous]:
        """The IFS PO this connector made for each record, among those carrying its marker
        (whenever made: IFS is searched by reference, not by time), proven its by
        `_unlike`. A PO that only resembles it (the marker with other content or entered
        before the intent, the number only as its OrderNo or bare reference) is never
        adopted, nor are two proven ones."""
        numbers = {r.key: str((r.payload or {})["number"]) for r in records}
        fields = {"DateEntered"} | {
            k for r in records for k in (r.payload or {}).get("header") or {}
        }
        rows = self.candidates(list(numbers.values()), sorted(fields - set(HEADER_EDITABLE)))
        field = self.settings.reference_field
        markers = {self.marker(n) for n in numbers.values()}
        lines = self._lines_of([str(r["OrderNo"]) for r in rows if r.get(field) in markers])
        found: dict[str, str | Ambiguous] = {}
        for record in records:
            number = numbers[record.key]
            why = {
                str(r["OrderNo"]): self._unlike(record, r, lines.get(str(r["OrderNo"]), []))
                for r in rows
                if r.get(field) == self.marker(number)
            }
            weak = sorted(
                {
                    str(r["OrderNo"])
                    for r in rows
                    if str(r["OrderNo"]) not in why
                    and (r.get(field) == number or r.get("OrderNo") == number)
                }
            )
            judged = self._judge(number, why, weak)
            if judged is not None:
                found[record.key] = judged
        return found

    def _lines_of(self, order_nos: Sequence[str]) -> dict[str, list[Row]]:
        """The active lines of many IFS POs, by OrderNo, in line order: one request per
        chunk of POs (none without POs)."""
        found: dict[str, list[Row]] = {}
        if not order_nos:
            return found
        for row in self.ifs.query_any_of(
            self.settings.lines_set, "OrderNo", list(dict.fromkeys(order_nos)), keys=LINE_KEYS
        ):
            if row.get("Objstate") != "Cancelled":
                found.setdefault(str(row["OrderNo"]), []).append(row)
        for rows in found.values():
            rows.sort(key=lambda r: (decimal_or_none(r.get("LineNo")) or 0, r["LineNo"]))
        return found

    def _unlike(self, record: Outbound, header: Row, lines: list[Row]) -> list[str]:
        """How an IFS PO carrying the record's marker differs from what this connector
        sent for it (empty: it is that PO): entered before the record's intent, or a header
        field or line (fields a buyer may edit aside) that IFS holds otherwise. IFS may hold
        fewer lines than were sent (a create stopped half-way), never other or more."""
        why = []
        entered = _day(header.get("DateEntered"))
        if record.intended_at is not None and entered is not None:
            earliest = (record.intended_at - LOOKUP_SKEW - ENTERED_SLACK).date()
            if entered < earliest:
                why.append(
                    f"it was entered on {entered}, before this record's create was first "
                    f"intended ({record.intended_at.isoformat()})"
                )
        payload = record.payload or {}
        if record.op != "upsert" or "header" not in payload:
            return why
        wanted = {k: v for k, v in payload["header"].items() if k not in HEADER_EDITABLE}
        why += [
            f"its {k} is {header.get(k)!r}, not {v!r}"
            for k, v in wanted.items()
            if _differs(header.get(k), v)
        ]
        sent = payload["lines"]
        if len(lines) > len(sent):
            why.append(f"it has {len(lines)} lines where {len(sent)} were sent")
        for line, wanted_line in zip(lines, sent, strict=False):
            differing = [
                k
                for k, v in wanted_line.items()
                if k not in LINE_EDITABLE and _differs(line.get(k), v)
            ]
            if differing:
                why.append(f"its line {line.get('LineNo')} differs in {', '.join(differing)}")
        return why

    def _judge(
        self, number: str, why: dict[str, list[str]], weak: list[str]
    ) -> str | Ambiguous | None:
        """The one PO proven the record's, else why none can be adopted (None: no IFS PO
        resembles it, so it is created)."""
        marker = self.marker(number)
        field = self.settings.reference_field
        return judge(
            why,
            weak,
            say=Conflicts(
                things="IFS purchase order(s)",
                several_fix="keep the right one (cancel the others in IFS and clear their "
                f"{field})",
                resembling=f"carry this connection's marker {marker!r} in {field}",
                resembling_fix=(
                    f"if one of them is this PO, cancel it in IFS and clear its {field} (the "
                    f"replay then creates it), else clear the marker from its {field}"
                ),
                weak=(
                    f"have ServiceTitan PO number {number!r} as order number or reference but "
                    "not this connector's marker"
                ),
                weak_fix="if one is this PO, cancel it in IFS (the replay then creates it), "
                "else change its number",
            ),
        )

    def _settle(self, record: Outbound, why: str) -> str | None:
        """After a create that IFS refused for a taken key, or whose answer was lost: the
        IFS PO this record already has, None if it has none; a PO that is not provably
        ours is a conflict."""
        try:
            match = self.lookup([record], datetime.now(UTC)).get(record.key)
        except ApiError as exc:
            if exc.kind is ErrorKind.AUTH:
                raise
            raise TransientError(
                f"{_label(record)}: {why}, and the look-up that settles it failed ({exc}); "
                "the next run looks it up again",
                method=exc.method,
                url=exc.url,
                status=exc.status,
                retryable=False,
            ) from None
        if isinstance(match, Ambiguous):
            raise RecordFailure("conflict", f"{_label(record)}: {why}: {match.message}")
        return match

    # -- writes -------------------------------------------------------------------------------

    def _header(self, record: Outbound) -> dict[str, Any]:
        assert record.payload is not None
        number = str(record.payload["number"])
        marker = self.marker(number)
        if len(marker) > self.settings.reference_length:
            raise RecordFailure(
                "validation",
                f"{_label(record)}: its marker {marker!r} is {len(marker)} characters, more than "
                f"the {self.settings.reference_field} field's {self.settings.reference_length}; "
                "give the connection a shorter name or point `reference_field` at a longer field",
            )
        return {**record.payload["header"], self.settings.reference_field: marker}

    def create(self, record: Outbound) -> str:
        body = {**self._header(record), "Company": self.session.connection.ifs.company}
        order_no, fresh = self._create_header(record, body)
        self._write_lines(record, order_no, [] if fresh else None)
        return order_no

    def _create_header(self, record: Outbound, body: dict[str, Any]) -> tuple[str, bool]:
        """(OrderNo, created now) of the record's IFS PO header."""
        for _ in range(CREATE_ATTEMPTS):
            try:
                row = self.ifs.create(self.settings.headers_set, body)
                return str(row["OrderNo"]), True
            except ConflictError as exc:
                taken = refusal(exc)
                if taken is None or taken.reason != "duplicate":
                    raise
                why = f"IFS says the purchase order exists already ({exc.detail})"
                order_no = self._settle(record, why)
                if order_no is None:
                    raise RecordFailure(
                        "conflict",
                        f"{_label(record)}: {why}, but no IFS PO carries its number or marker; "
                        "replay it",
                    ) from None
                return order_no, False
            except OutcomeUnknownError:
                order_no = self._settle(record, "the answer to its create was lost")
                if order_no is not None:
                    return order_no, False
        raise TransientError(
            f"{_label(record)}: the answer to its create was lost {CREATE_ATTEMPTS} times and "
            "no IFS PO carries its marker; the next run looks it up again",
            method="POST",
            url=self.ifs.transport.url(self.ifs.path(self.settings.headers_set, "int")),
            retryable=False,
        )

    def _lines(self, order_no: str) -> list[Row]:
        rows = self.ifs.query(
            self.settings.lines_set,
            filter=odata.eq("OrderNo", order_no),
            orderby=list(LINE_KEYS),
            keys=LINE_KEYS,
        )
        active = [r for r in rows if r.get("Objstate") != "Cancelled"]
        return sorted(active, key=lambda r: (decimal_or_none(r.get("LineNo")) or 0, r["LineNo"]))

    def _write_lines(self, record: Outbound, order_no: str, current: list[Row] | None) -> None:
        """Make the IFS PO's active lines those of the record, in order: change the ones
        that differ, add the missing, delete the extra. A line whose create answer was
        lost is found by reading the lines again. Never ends in `outcome_unknown` (the
        protocol would then adopt the PO as it is): the next run completes the lines."""
        for _ in range(CREATE_ATTEMPTS):
            try:
                lines = self._lines(order_no) if current is None else current
                self._apply_lines(record, order_no, lines)
                return
            except OutcomeUnknownError as exc:
                lost = exc
                current = None
        raise TransientError(
            f"{_label(record)}: the answers to creates of lines of IFS purchase order "
            f"{order_no} were lost {CREATE_ATTEMPTS} times ({lost.detail}); the next run reads "
            "its lines and completes them",
            method=lost.method,
            url=lost.url,
            retryable=False,
        )

    def _apply_lines(self, record: Outbound, order_no: str, current: list[Row]) -> None:
        assert record.payload is not None
        wanted: list[dict[str, Any]] = record.payload["lines"]
        before: list[dict[str, Any]] = (record.previous or {}).get("lines") or []
        sets = self.settings
        for position, line in enumerate(wanted):
            if position >= len(current):
                self.ifs.create(sets.lines_set, {"OrderNo": order_no, **line})
                continue
            row = current[position]
            was = before[position] if position < len(before) else None
            if _changes(row, line, was, LINE_EDITABLE):
                self.ifs.update(
                    sets.lines_set,
                    {k: row[k] for k in LINE_KEYS},
                    lambda now, line=line, was=was: _changes(now, line, was, LINE_EDITABLE),
                )
        for row in current[len(wanted) :]:
            self.ifs.delete(sets.lines_set, {k: row[k] for k in LINE_KEYS}, etag=row.etag)

    def update(self, record: Outbound, target_id: str) -> None:
        """Bring the IFS PO to what ServiceTitan says: the header (read with its ETag,
        PATCHed with If-Match, re-read on 412) if it changed or the PO was adopted, then
        the lines likewise. A PO in a locked state is left as it is."""
        assert record.payload is not None
        previous = record.previous
        key = {"OrderNo": target_id}
        locked = self.settings.locked_states

        def unlocked(row: Row) -> None:
            if row.get("Objstate") in locked:
                raise self._locked(record, target_id, f"is {row.get('Objstate')}")

        try:
            if previous is None or previous.get("header") != record.payload["header"]:
                wanted = {k: v for k, v in self._header(record).items() if k != "OrderNo"}
                before = (previous or {}).get("header")

                def header(row: Row) -> dict[str, Any]:
                    unlocked(row)
                    return _changes(row, wanted, before, HEADER_EDITABLE)

                self.ifs.update(self.settings.headers_set, key, header)
            else:
                unlocked(self.ifs.get(self.settings.headers_set, key, select=["Objstate"]))
            if previous is None or previous.get("lines") != record.payload["lines"]:
                self._write_lines(record, target_id, None)
        except RejectedError as exc:
            refused = refusal(exc)
            if refused is not None and refused.reason == "target_locked":
                raise self._locked(
                    record, target_id, f"was locked meanwhile ({exc.detail})"
                ) from None
            raise

    def _locked(self, record: Outbound, order_no: str, why: str) -> RecordFailure:
        return RecordFailure(
            "target_locked",
            f"{_label(record)}: IFS purchase order {order_no} {why} and can no longer be "
            "changed, so the change made in ServiceTitan was not applied; change it in IFS by "
            "hand, then resolve this record",
        )

    def cancel(self, record: Outbound, target_id: str) -> None:
        """A PO cancelled in ServiceTitan: done once its IFS PO is cancelled (or gone).
        The connector does not cancel IFS POs itself (IFS asks a buyer for the reason)."""
        try:
            row = self.ifs.get(
                self.settings.headers_set, {"OrderNo": target_id}, select=["OrderNo", "Objstate"]
            )
        except NotFoundError:
            return
        state = row.get("Objstate")
        if state == "Cancelled":
            return
        raise RecordFailure(
            "target_locked" if state in self.settings.locked_states else "rejected",
            f"{_label(record)} was cancelled in ServiceTitan, but IFS purchase order "
            f"{target_id} is {state}; the connector does not cancel IFS purchase orders: "
            "cancel it in IFS (with its reason), then re-run the period",
        )
