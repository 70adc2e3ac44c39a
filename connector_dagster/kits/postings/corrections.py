"""Corrections after close (`corrections: next_open_period`): a document changed in
ServiceTitan after its IFS period closed keeps its posting set as it was posted there;
the change is posted as a correction set of its own, the net change per account and
code parts, dated the first day of the next period IFS takes postings in.

The net change rather than a reversal and a new posting: the open period then shows
exactly what changed (what an adjustment invoice would post), a change that moves no
amount (a customer's name, a summary) posts nothing, and IFS gets fewer rows. Each
correction names its original: its reference is the document's with `-C<n>`
(`ST-INV-77000123-C1`), its Text names the original's IFS key and the closed period.

A correction is looked up by its reference before it is created (a run that stopped
between its create and its ledger commit left it in IFS): the set carrying exactly
its Text with this connection's marker is it, brought to the change as it is now;
any other set with that reference is a `conflict`. A document with corrections is
corrected from then on, even once its period reopens, so IFS holds its original plus
its corrections, never an original changed in place beside them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any, NoReturn, Protocol

from connector_dagster.engine.records import Outbound, Period
from connector_dagster.engine.sync import RecordFailure
from connector_dagster.kits.postings.mapping import TEXT_LENGTH, clip
from connector_dagster.kits.postings.settings import PostingSettings
from connector_dagster.lib.errors import ApiError
from connector_dagster.lib.store import Correction
from connector_dagster.systems.ifs.client import Row, refusal
from connector_dagster.systems.ifs.postings import PostingWriter

AMOUNTS = ("CurrencyDebetAmount", "CurrencyCreditAmount", "DebetAmount", "CreditAmount")
CORRECTION = re.compile(r"^(?P<reference>.+)-C(?P<seq>[1-9]\d*)$")


def correction_reference(reference: str, seq: int) -> str:
    """The reference of a document's correction `seq`: `ST-INV-77000123-C1`."""
    return f"{reference}-C{seq}"


def corrected(reference: str) -> tuple[str, int] | None:
    """The document's reference and the correction's number of a correction's reference;
    None for any other."""
    match = CORRECTION.match(reference)
    return (match["reference"], int(match["seq"])) if match else None


def _amount(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def net_change(before: Sequence[dict[str, Any]], after: Sequence[dict[str, Any]]) -> list[dict]:
    """The rows that take posting set `before` to `after`: per account and code parts
    (every row field but the amounts and Text), the change of debit minus credit as a
    debit or a credit; none where nothing changed. In `after`'s order, then `before`'s."""
    sums: dict[tuple, Decimal] = {}
    shape: dict[tuple, dict[str, Any]] = {}
    for sign, rows in ((1, after), (-1, before)):
        for row in rows:
            where = tuple(sorted((k, str(v)) for k, v in row.items()
                                 if k not in AMOUNTS and k != "Text"))  # fmt: skip
            net = _amount(row.get("CurrencyDebetAmount")) - _amount(row.get("CurrencyCreditAmount"))
            sums[where] = sums.get(where, Decimal(0)) + sign * net
            shape.setdefault(where, row)
    rows = []
    for where, total in sums.items():
        if total == 0:
            continue
        debit, credit = (total, None) if total > 0 else (None, -total)
        row = {k: v for k, v in shape[where].items() if k not in AMOUNTS}
        rows.append(
            {
                **row,
                "CurrencyDebetAmount": debit,
                "CurrencyCreditAmount": credit,
                "DebetAmount": debit,
                "CreditAmount": credit,
                "Text": clip(f"Correction: {row.get('Text') or ''}", 200),
            }
        )
    return rows


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


class PostingTarget(Protocol):
    """What a correction needs of the IFS posting target (`target.IfsPostingTarget`)."""

    label: str
    settings: PostingSettings
    writer: PostingWriter

    @property
    def what(self) -> str: ...

    def reference(self, key: str) -> str: ...

    def marked(self, header: dict[str, Any]) -> dict[str, Any]: ...

    def mark(self, record: Outbound, target_id: str, correction: str | None = None) -> None: ...

    def refused(
        self, record: Outbound, exc: ApiError, doing: str, target_id: str | None
    ) -> NoReturn: ...


class Corrector:
    """Writes the corrections of one IFS posting target (its writer, references, marker
    and settings)."""

    def __init__(self, target: PostingTarget) -> None:
        self.target = target
        self.writer = target.writer

    def _reference(self, record: Outbound) -> str:
        return correction_reference(self.target.reference(record.key), _seq(record))

    def _text(self, record: Outbound, original: str) -> str:
        return clip(
            f"Correction {_seq(record)} of IFS {original}: {self.target.label} {record.key} "
            f"changed after period {record.partition_key[:7]} closed",
            TEXT_LENGTH,
        )

    def find(self, record: Outbound, original: str) -> Row | None:
        """The record's next correction if IFS holds it already (a run stopped between
        its create and its commit); a `conflict` when another set has its reference."""
        reference = self._reference(record)
        sets = self.writer.sets
        found = self.writer.find([reference], select=["Text", sets.date_field]).get(reference, [])
        text = self.target.marked({"Text": self._text(record, original)})["Text"]
        ours = [row for row in found if row.get("Text") == text]
        if len(found) > 1 or (found and not ours):
            keys = ", ".join(sets.key_text(row) for row in found)
            raise RecordFailure(
                "conflict",
                f"{self.target.label} {record.key!r}: IFS {self.target.what}(s) {keys} carry "
                f"the reference {reference!r} of its correction, and not as this connector "
                "writes it; delete or re-reference them in IFS, then replay this record",
            )
        return ours[0] if ours else None

    def write(self, record: Outbound, original: str, found: Row | None) -> Correction:
        """Post the change since what IFS holds for the record (its original and its
        corrections: the ledger's last payload) in the next open period, or bring the
        correction found to it; mark the document with it."""
        assert record.payload is not None
        before, after = record.previous, record.payload
        who = f"{self.target.label} {record.key!r}"
        closed = record.partition_key[:7]
        if before is None or "header" not in before:
            raise RecordFailure(
                "period_closed",
                f"{who}: IFS accounting period {closed} is closed and the ledger does not "
                "hold what was posted, so no correction can be made; post the change by "
                "hand in an open period, then resolve this record",
            )
        company = after["header"]["Company"]
        if before["header"].get("Company") != company:
            raise RecordFailure(
                "period_closed",
                f"{who}: moved from IFS company {before['header'].get('Company')} to "
                f"{company} after its period {closed} closed, so no correction was posted; "
                "post the move by hand, then resolve this record",
            )
        rows = net_change(before["rows"], after["rows"])
        target_id = landed = payload = None
        if rows:
            header = {
                "Company": company,
                "VoucherType": after["header"].get("VoucherType"),
                "Reference": self._reference(record),
                "Text": self._text(record, original),
            }
            target_id, day = self._post(record, header, rows, found)
            payload = {"header": {**header, self.writer.sets.date_field: day}, "rows": rows}
            landed = f"{day[:7]}-01"
        correction = Correction(
            seq=_seq(record),
            corrects_id=original,
            corrects_partition=record.partition_key,
            target_id=target_id,
            partition_key=landed,
            payload=payload,
            before=before,
        )
        self.target.mark(record, original, correction.note)
        return correction

    def _post(
        self, record: Outbound, header: dict[str, Any], rows: list[dict], found: Row | None
    ) -> tuple[str, str]:
        """The correction's IFS key and date: the one found brought to `rows`, or a new
        one dated the first day of the first period after the record's that IFS takes."""
        sets = self.writer.sets
        if found is not None:
            day = str(found[sets.date_field])[:10]
            target_id = sets.key_text(found)
            try:
                self.writer.update(target_id, self.target.marked(
                    {**header, sets.date_field: day}), rows)  # fmt: skip
            except ApiError as exc:
                self.target.refused(record, exc, "corrected", target_id)
            return target_id, day
        day = Period.parse(record.partition_key).start
        tried = self.target.settings.correction_periods
        for _ in range(tried):
            day = _next_month(day)
            try:
                dated = self.target.marked({**header, sets.date_field: day.isoformat()})
                return self.writer.create(dated, rows), day.isoformat()
            except ApiError as exc:
                found_refusal = refusal(exc)
                if found_refusal is None or found_refusal.reason != "period_closed":
                    self.target.refused(record, exc, "corrected", None)
        raise RecordFailure(
            "period_closed",
            f"{self.target.label} {record.key!r}: IFS accounting period "
            f"{record.partition_key[:7]} is closed for {header['Company']}, and so are the "
            f"{tried} periods after it, so no correction was posted; open one of them in "
            "IFS, then replay this record",
        )


def _seq(record: Outbound) -> int:
    """The number of the record's next correction."""
    return len(record.corrections) + 1
