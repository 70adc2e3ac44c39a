"""F2's target: ServiceTitan journal entries in the write protocol.

`POST journal-entries` returns no id, so a created entry is found by its name,
which carries the proposal's key and this connection's marker. An entry is adopted only
when it is what this connector sent: its name exactly the marked name, made after the
record's intent, its post date and lines those of the payload (its message is the sync
status's, set after the create); any other entry naming the proposal is a `conflict`
naming it. Updates `PUT` the whole entry with its current `versionId` (a version
conflict is re-read and re-applied, bounded); after each write the entry's sync status
is set. A cancelled or removed proposal deletes its entry while ServiceTitan allows it.
A post date in a closed ServiceTitan period is `period_closed`, never posted.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connector_dagster.defs.gl_postings.mapping import NAME_PREFIX
from connector_dagster.defs.gl_postings.settings import GlPostingSettings
from connector_dagster.engine.adoption import Conflicts, judge, made_before_intent
from connector_dagster.engine.records import Ambiguous, Outbound
from connector_dagster.engine.session import FlowPart
from connector_dagster.engine.sync import LOOKUP_SKEW, RecordFailure
from connector_dagster.lib.errors import ApiError, NotFoundError, OutcomeUnknownError
from connector_dagster.systems.servicetitan.client import ServiceTitanClient

VERSION_RETRIES = 2
LINE_CONTENT = {
    "accountId": ("account", "id"),
    "debit": ("debit",),
    "credit": ("credit",),
    "memo": ("memo",),
    "businessUnitId": ("businessUnit", "id"),
    "vendorId": ("vendor", "id"),
}
"""A line sent -> where ServiceTitan's journal-entry details return it."""
_CLOSED_PERIOD = re.compile(r"Accounting period (\d{4}-\d{2}) is closed")


def marked_name(name: str, connection: str) -> str:
    """The entry's name in ServiceTitan: the mapped name tagged with the connection."""
    return f"{name} [connector:{connection}]"


def marked_key(name: str | None, connection: str) -> str | None:
    """The proposal key of an entry named by this connection, wherever in the name the
    marker stands: what resembles an entry of this connector, not proof that it is one."""
    found = re.search(
        re.escape(NAME_PREFIX) + r"(\S+) \[connector:" + re.escape(connection) + r"\]", name or ""
    )
    return found.group(1) if found else None


def _at(row: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = row
    for step in path:
        value = value.get(step) if isinstance(value, dict) else None
    return value


def _same(current: Any, sent: Any) -> bool:
    """A value as ServiceTitan returns it against the one sent: numbers as numbers, an
    empty text as none."""
    if current in (None, "") and sent in (None, ""):
        return True
    if isinstance(sent, int | float | Decimal) and not isinstance(sent, bool):
        try:
            return Decimal(str(current)) == Decimal(str(sent))
        except InvalidOperation:
            return False
    return current == sent


def closed_period(exc: ApiError) -> str | None:
    """The period ServiceTitan refused because it is closed, from its error body."""
    body = exc.body if isinstance(exc.body, dict) else {}
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    if data.get("code") == "AccountingPeriodClosed":
        return str(data.get("period") or "")
    found = _CLOSED_PERIOD.search(str(body.get("title") or exc.detail))
    return found.group(1) if found else None


def _not_found(exc: ApiError) -> bool:
    """ServiceTitan answers an unknown journal entry id with 400 "not found"."""
    body = exc.body if isinstance(exc.body, dict) else {}
    return exc.status in (400, 404) and "not found" in str(body.get("title") or "").lower()


def version_conflict(exc: ApiError) -> bool:
    body = exc.body if isinstance(exc.body, dict) else {}
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    return data.get("code") == "VersionConflict" or "versionId" in (body.get("errors") or {})


class ServiceTitanJournalEntries(FlowPart[GlPostingSettings]):
    """ServiceTitan journal entries as F2's target."""

    @property
    def st(self) -> ServiceTitanClient:
        return self.session.servicetitan

    def lookup(self, records: Sequence[Outbound], since: datetime) -> dict[str, str | Ambiguous]:
        """The entry this connector made for each record, among those created since
        `since` whose name carries its marker: one proven its by `_unlike` (the lines read
        only for an entry whose name and header are exact). An entry that only resembles
        it (a copy of the name, other lines, the proposal named without the marker) is
        never adopted, nor are two proven ones."""
        wanted = {r.key: r for r in records}
        marked: dict[str, list[dict[str, Any]]] = defaultdict(list)
        weak: dict[str, list[str]] = defaultdict(list)
        for entry in self.st.iter_pages(
            "accounting", "journal-entries", {"createdOnOrAfter": since}
        ):
            name = str(entry.get("name") or "")
            key = marked_key(name, self.session.name)
            if key in wanted:
                marked[key].append(entry)
            else:
                for candidate in wanted:
                    if f"{NAME_PREFIX}{candidate}" in name:
                        weak[candidate].append(str(entry["id"]))
        found: dict[str, str | Ambiguous] = {}
        for key, record in wanted.items():
            why = {str(e["id"]): self._unlike(record, e) for e in marked[key]}
            judged = self._judge(record, why, weak[key])
            if judged is not None:
                found[key] = judged
        return found

    def _unlike(self, record: Outbound, entry: dict[str, Any]) -> list[str]:
        """How an entry whose name carries the record's marker differs from what this
        connector sent for it (empty: it is that entry)."""
        payload = record.payload or {}
        expected = marked_name(
            payload.get("name") or f"{NAME_PREFIX}{record.key}", self.session.name
        )
        why = []
        if entry.get("name") != expected:
            why.append(f"its name is {entry.get('name')!r}, not exactly {expected!r}")
        early = made_before_intent(record, entry.get("createdOn"))
        why += [early] if early else []
        if why or record.op != "upsert" or "lines" not in payload:
            return why
        if str(entry.get("postDate"))[:10] != str(payload["postDate"])[:10]:
            why.append(f"its postDate is {entry.get('postDate')!r}, not {payload['postDate']!r}")
        if why:
            return why
        details = list(
            self.st.iter_pages("accounting", f"journal-entries/{entry['id']}/details", {})
        )
        if len(details) != len(payload["lines"]):
            why.append(f"it has {len(details)} lines where {len(payload['lines'])} were sent")
            return why
        for n, (line, sent) in enumerate(zip(details, payload["lines"], strict=True), start=1):
            differing = [
                field
                for field, path in LINE_CONTENT.items()
                if not _same(_at(line, path), sent.get(field))
            ]
            if differing:
                why.append(f"its line {n} differs in {', '.join(differing)}")
        return why

    def _judge(
        self, record: Outbound, why: dict[str, list[str]], weak: list[str]
    ) -> str | Ambiguous | None:
        """The one entry proven the record's, else why none can be adopted (None: no entry
        resembles it, so it is created)."""
        return judge(
            why,
            weak,
            say=Conflicts(
                things="ServiceTitan journal entr(ies)",
                several_fix="delete the extra ones in ServiceTitan",
                resembling=f"carry a copy of this connection's marker for proposal {record.key}",
                resembling_fix=(
                    "if one of them is this proposal's entry, delete it in ServiceTitan (the "
                    "replay then makes it), else rename it"
                ),
                weak=f"name proposal {record.key} but not this connector's marker",
                weak_fix="rename or delete it in ServiceTitan",
            ),
        )

    def _body(self, record: Outbound, version_id: int) -> dict[str, Any]:
        assert record.payload is not None
        return {
            **record.payload,
            "name": marked_name(record.payload["name"], self.session.name),
            "versionId": version_id,
        }

    def _refused(self, record: Outbound, exc: ApiError, doing: str) -> RecordFailure | None:
        period = closed_period(exc)
        if period is not None:
            return RecordFailure(
                "period_closed",
                f"proposal {record.key!r}: ServiceTitan's accounting period {period} is closed, "
                f"so nothing was {doing}; reopen the period in ServiceTitan (or move the voucher "
                "date in IFS), then replay this record",
                http_status=exc.status,
            )
        return None

    def create(self, record: Outbound) -> str:
        started = datetime.now(UTC) - LOOKUP_SKEW
        try:
            self.st.create("accounting", "journal-entries", self._body(record, 0))
        except ApiError as exc:
            refused = self._refused(record, exc, "posted")
            if refused is not None:
                raise refused from None
            raise
        found = self.lookup([record], started).get(record.key)
        if not isinstance(found, str):
            raise OutcomeUnknownError(
                f"proposal {record.key!r}: the journal entry was created but cannot be found "
                "by its name yet",
                method="POST",
                url=self.st.transport.url(self.st.path("accounting", "journal-entries")),
            )
        self._mark_synced(found)
        return found

    def _entry(self, target_id: str) -> dict[str, Any]:
        return self.st.get("accounting", f"journal-entries/{target_id}")

    def _mark_synced(self, target_id: str) -> None:
        version_id = self._entry(target_id)["versionId"]
        self.st.patch(
            "accounting",
            f"journal-entries/{target_id}/sync",
            {"syncStatus": "Synced", "versionId": version_id, "message": "from IFS"},
        )

    def update(self, record: Outbound, target_id: str) -> None:
        """PUT the entry with its current versionId; a stale version is re-read and the
        entry re-applied, up to VERSION_RETRIES times, then `conflict`."""
        for _ in range(VERSION_RETRIES + 1):
            current = self._entry(target_id)["versionId"]
            try:
                self.st.put(
                    "accounting", f"journal-entries/{target_id}", self._body(record, current)
                )
            except ApiError as exc:
                refused = self._refused(record, exc, "changed")
                if refused is not None:
                    raise refused from None
                if exc.status == 400 and version_conflict(exc):
                    continue
                raise
            self._mark_synced(target_id)
            return
        raise RecordFailure(
            "conflict",
            f"proposal {record.key!r}: journal entry {target_id} kept changing in ServiceTitan "
            f"({VERSION_RETRIES + 1} saves refused for a stale versionId); replay this record",
        )

    def cancel(self, record: Outbound, target_id: str) -> None:
        """Delete the entry of a proposal cancelled or removed in IFS (already gone is
        done); one ServiceTitan no longer lets go is `target_locked`."""
        try:
            self.st.delete("accounting", f"journal-entries/{target_id}")
        except NotFoundError:
            return
        except ApiError as exc:
            if _not_found(exc):
                return
            refused = self._refused(record, exc, "deleted")
            if refused is not None:
                raise refused from None
            if exc.status == 400:
                raise RecordFailure(
                    "target_locked",
                    f"proposal {record.key!r} was cancelled or removed in IFS, but ServiceTitan "
                    f"no longer lets journal entry {target_id} be deleted ({exc.detail}); "
                    "reverse it in ServiceTitan by hand, then resolve this record",
                    http_status=400,
                ) from None
            raise
