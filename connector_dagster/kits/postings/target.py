"""The IFS posting target F3 and F4 share, in the write protocol; a flow says how its
documents are referenced and marked exported.

A document is looked up in IFS before its first create (`lookup_before_create`: a
person may have keyed its voucher by hand) by its reference (F3's `ST-INV-<id>`), many
documents per request; a posting set is adopted only when it is exactly what this
connector sent: its Text the document's with this connection's marker, its header
fields and rows those of the payload (IFS keeps no creation time on a posting set, so
that is the proof). Any other set with the reference is a `conflict` naming it. It is
created as one `$batch` change set when the connection allows it, else request by
request; updated field by field with If-Match (412: re-read, re-applied); deleted when
the document is cancelled in ServiceTitan. IFS's refusals become `period_closed` (naming
the period) and `target_locked`. Once it is in IFS, the document is marked exported in
ServiceTitan with the IFS key; a refused mark is a failed record, marked again by the
next run (which finds the posting set by its reference). With `corrections:
next_open_period`, a change after close is posted as a correction in the next open
period instead of `period_closed` (`corrections.py`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from datetime import datetime
from typing import Any, NoReturn

from connector_dagster.engine.adoption import Conflicts, judge
from connector_dagster.engine.records import Ambiguous, Outbound
from connector_dagster.engine.session import Session
from connector_dagster.engine.sync import RecordFailure
from connector_dagster.kits.postings.corrections import Corrector
from connector_dagster.kits.postings.settings import PostingSettings
from connector_dagster.lib.errors import ApiError
from connector_dagster.lib.grouping import Grouper
from connector_dagster.lib.store import Correction
from connector_dagster.systems.ifs.client import Row, refusal
from connector_dagster.systems.ifs.postings import PostingWriter, unlike

WRITERS = 16
"""Writer threads of a write step that sends one document per request."""
WRITERS_PER_GROUPED = 6
"""Writer threads per document of a `$batch`: one batch filling, others on their way,
marks and ledger commits."""


def entry_id(entry: Any, id_field: str) -> Any:
    """The document id a mark entry carries: itself, or its `id_field`."""
    return entry.get(id_field) if isinstance(entry, Mapping) else entry


class IfsPostingTarget:
    """ServiceTitan documents as IFS posting sets; a flow says how a document is
    referenced in IFS (`reference`) and marked exported in ServiceTitan (`mark`)."""

    label = "document"
    lookup_before_create = True

    def __init__(self, session: Session, settings: PostingSettings) -> None:
        self.session = session
        self.settings = settings
        ifs = session.connection.ifs
        grouped = ifs.batch_documents if ifs.batch else 1
        self.writer = PostingWriter(
            session.ifs,
            settings.sets(),
            batch=ifs.batch,
            batch_max_requests=ifs.batch_max_requests,
            batch_documents=grouped,
            batch_linger_s=ifs.batch_linger_ms / 1000,
        )
        self.marks: Grouper[Any, Any] = Grouper(
            self._send_marks, size=grouped, linger_s=ifs.batch_linger_ms / 1000
        )
        """Marks of documents written meanwhile, as many to a request as go to a `$batch`."""
        self.writers = max(WRITERS, WRITERS_PER_GROUPED * grouped)
        """Writer threads the write step runs: enough creates in flight to fill each
        `$batch` while others wait for theirs and for their marks."""
        self.corrector = Corrector(self)

    def reference(self, key: str) -> str:
        raise NotImplementedError

    def mark(self, record: Outbound, target_id: str, correction: str | None = None) -> None:
        """Mark the document exported in ServiceTitan with its IFS key (and, where the
        mark carries a message, the `correction` that changed it)."""
        raise NotImplementedError

    @property
    def marker(self) -> str:
        return f"[connector:{self.session.name}]"

    @property
    def what(self) -> str:
        return self.writer.sets.set_name.removesuffix("Set")

    def marked(self, header: Mapping[str, Any]) -> dict[str, Any]:
        """The header as written: its Text tagged with this connection's marker."""
        return {**header, "Text": f"{header['Text']} {self.marker}"}

    def lookup(self, records: Sequence[Outbound], since: datetime) -> dict[str, str | Ambiguous]:
        """The posting set this connector made for each record, among those carrying its
        reference (whenever created): one proven its by `_unlike`. A set that only
        resembles it (the reference without the marker, a copy of the marker, other
        amounts) is never adopted, nor are two proven ones. One request per page of
        records, and one more for the rows of the sets whose Text is exactly the marked
        Text (none when nothing was posted yet)."""
        by_reference = {self.reference(r.key): r for r in records}
        fields = {"Text", *(k for r in records for k in ((r.payload or {}).get("header") or {}))}
        found = self.writer.find(by_reference, select=sorted(fields))
        marked = [
            row
            for ref, record in by_reference.items()
            for row in found.get(ref, [])
            if self._exact_text(record, row)
        ]
        columns = {k for r in records for row in (r.payload or {}).get("rows") or [] for k in row}
        rows = self.writer.rows_of(marked, select=sorted(columns)) if marked else {}
        result: dict[str, str | Ambiguous] = {}
        for ref, record in by_reference.items():
            why = {
                self.writer.sets.key_text(row): self._unlike(
                    record, row, rows.get(self.writer.sets.key_text(row), [])
                )
                for row in found.get(ref, [])
            }
            judged = self._judge(record, ref, why)
            if judged is not None:
                result[record.key] = judged
        return result

    def _exact_text(self, record: Outbound, header: Row) -> bool:
        """Whether a set's Text is exactly the one this connector writes for the record
        (for a cancellation, which carries no payload: any Text ending in the marker)."""
        text = str(header.get("Text") or "")
        if record.payload is None or "header" not in record.payload:
            return text.endswith(f" {self.marker}")
        return text == self.marked(record.payload["header"])["Text"]

    def _unlike(self, record: Outbound, header: Row, rows: list[Row]) -> list[str]:
        """How a set carrying the record's reference differs from what was sent for it."""
        if not self._exact_text(record, header):
            text = str(header.get("Text") or "")
            where = "a copy of the marker in" if self.marker in text else "no marker in"
            return [f"{where} its Text {text!r}"]
        if record.payload is None or "header" not in record.payload:
            return []
        sent = self.marked(record.payload["header"])
        return unlike(header, rows, sent, record.payload["rows"])

    def _judge(
        self, record: Outbound, ref: str, why: dict[str, list[str]]
    ) -> str | Ambiguous | None:
        """The one set proven the record's, else why none can be adopted (None: no set
        carries the reference, so it is created)."""
        return judge(
            why,
            say=Conflicts(
                things=f"IFS {self.what}(s)",
                several_fix="delete the extra ones in IFS",
                resembling=f"carry reference {ref!r}",
                resembling_fix=(
                    f"if one of them already posts this {self.label}, delete it in IFS (the "
                    "replay then posts it once, marked as this connector's), else change its "
                    "reference in IFS"
                ),
            ),
        )

    def create(self, record: Outbound) -> str:
        assert record.payload is not None
        try:
            target_id = self.writer.create(
                self.marked(record.payload["header"]), record.payload["rows"]
            )
        except ApiError as exc:
            self.refused(record, exc, "posted", None)
        self.mark(record, target_id)
        return target_id

    def update(self, record: Outbound, target_id: str) -> Correction | None:
        """Bring the posting set to the document as it is now (a field a person changed in
        IFS stays, unless the document's value for it changed), check it, mark it. With
        `corrections: next_open_period`, a change IFS refuses for a closed period (or a
        change to a document corrected before) is posted as a correction instead."""
        assert record.payload is not None
        corrects = self.settings.corrections == "next_open_period"
        if corrects:
            found = self.corrector.find(record, target_id)
            if found is not None or record.corrections:
                return self.corrector.write(record, target_id, found)
        try:
            self._update(record, target_id)
        except ApiError as exc:
            closed = refusal(exc)
            if corrects and closed is not None and closed.reason == "period_closed":
                return self.corrector.write(record, target_id, None)
            self.refused(record, exc, "changed", target_id)
        self.mark(record, target_id)
        return None

    def _update(self, record: Outbound, target_id: str) -> None:
        assert record.payload is not None
        last = record.previous
        previous = None
        if last is not None and "header" in last:
            previous = {"header": self.marked(last["header"]), "rows": last.get("rows") or []}
        self.writer.update(
            target_id, self.marked(record.payload["header"]), record.payload["rows"], previous
        )

    def cancel(self, record: Outbound, target_id: str) -> None:
        """Delete the posting set of a document cancelled in ServiceTitan (gone already is
        done); one IFS no longer lets go is `target_locked`. One corrected in a later
        period is not deleted: its corrections would stay posted without it."""
        if record.corrections:
            raise RecordFailure(
                "period_closed",
                f"{self.label} {record.key!r}: cancelled in ServiceTitan after its IFS "
                f"{self.what} {target_id} was corrected ({record.corrections[-1].note}), so "
                "nothing was deleted; reverse it and its corrections by hand in an open "
                "period, then resolve this record",
            )
        try:
            self.writer.delete(target_id)
        except ApiError as exc:
            self.refused(record, exc, "deleted", target_id)

    def refused(
        self, record: Outbound, exc: ApiError, doing: str, target_id: str | None
    ) -> NoReturn:
        """A closed period or a locked posting set as its own failure; anything else as
        the client classified it."""
        found = refusal(exc)
        who = f"{self.label} {record.key!r}"
        if found is not None and found.reason == "period_closed":
            company = (record.payload or {}).get("header", {}).get("Company", "the company")
            instead = ""
            if doing == "changed" and self.settings.corrections == "park":
                instead = (
                    " (or, to post such changes in the next open period, set corrections: "
                    "next_open_period in the flow's settings, then replay)"
                )
            raise RecordFailure(
                "period_closed",
                f"{who}: IFS accounting period {found.period or '(unnamed)'} is closed for "
                f"{company}, so nothing was {doing}; reopen the period in IFS, then replay "
                f"this record{instead}",
                http_status=exc.status,
            ) from None
        if found is not None and found.reason == "target_locked":
            raise RecordFailure(
                "target_locked",
                f"{who}: IFS {self.what} {target_id} can no longer be changed "
                f"({found.detail}), so nothing was {doing}; change it in IFS by hand, then "
                "resolve this record",
                http_status=exc.status,
            ) from None
        raise exc

    def exported(
        self,
        record: Outbound,
        target_id: str,
        path: str,
        entry: Any,
        ids_field: str | None,
        id_field: str,
    ) -> None:
        """Mark the document exported with ServiceTitan's `path` (`invoices/markasexported`)
        in one request with the marks of other documents written meanwhile: its `entry`
        in the body's array (under `ids_field`, when the body is an object), its answer
        row found by `id_field`."""
        answers = self.marks.submit(entry, (path, ids_field))
        self.marked_exported(record, target_id, answers, id_field, entry_id(entry, id_field))

    def _send_marks(self, key: Hashable, entries: Sequence[Any]) -> list[Any]:
        path, ids_field = key  # type: ignore[misc]
        body = list(entries) if ids_field is None else {ids_field: list(entries)}
        answers = self.session.servicetitan.post("accounting", path, body, idempotent=True)
        return [answers] * len(entries)

    def marked_exported(
        self, record: Outbound, target_id: str, answers: Any, id_field: str, doc_id: int
    ) -> None:
        """Check ServiceTitan's answer to `markasexported` for the document: a row that
        did not succeed is a failed record."""
        row = next(
            (a for a in answers or [] if isinstance(a, dict) and a.get(id_field) == doc_id), None
        )
        if row is not None and row.get("success"):
            return
        why = str((row or {}).get("errorMessage") or "ServiceTitan's answer has no row for it")
        elsewhere = "already exported" in why.lower()
        fix = (
            f"it was exported by another integration meanwhile: if that export stands, delete "
            f"IFS {self.what} {target_id} in IFS, then resolve this record"
            if elsewhere
            else "the next run finds the IFS posting set by its reference and marks it again"
        )
        raise RecordFailure(
            "conflict" if elsewhere else "rejected",
            f"{self.label} {record.key!r}: posted to IFS as {self.what} {target_id}, but "
            f"ServiceTitan did not mark it exported ({why}); {fix}",
        )

    def message(self, target_id: str, correction: str | None = None) -> str:
        posted = f"Posted to IFS {self.what} {target_id} by connector {self.session.name}"
        return posted if correction is None else f"{posted}; {correction}"
