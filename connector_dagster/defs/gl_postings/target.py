"""F2's target: ServiceTitan journal entries in the write protocol.

`POST journal-entries` returns no id, so a created entry is found by its name,
which carries the proposal's key and this connection's marker. Updates `PUT` the
whole entry with its current `versionId` (a version conflict is re-read and
re-applied, bounded); after each write the entry's sync status is set. A
cancelled or removed proposal deletes its entry while ServiceTitan allows it. A
post date in a closed ServiceTitan period is `period_closed`, never posted.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from connector_dagster.defs.gl_postings.mapping import NAME_PREFIX
from connector_dagster.defs.gl_postings.settings import GlPostingSettings
from connector_dagster.engine.link import Link
from connector_dagster.engine.sync import LOOKUP_SKEW, Ambiguous, RecordFailure, SourceRecord
from connector_dagster.lib.errors import ApiError, NotFoundError, OutcomeUnknownError
from connector_dagster.lib.servicetitan import ServiceTitanClient

VERSION_RETRIES = 2
_CLOSED_PERIOD = re.compile(r"Accounting period (\d{4}-\d{2}) is closed")


def marked_name(name: str, connection: str) -> str:
    """The entry's name in ServiceTitan: the mapped name tagged with the connection."""
    return f"{name} [connector:{connection}]"


def marked_key(name: str | None, connection: str) -> str | None:
    """The proposal key of an entry named by this connection, wherever in the name the
    marker stands."""
    found = re.search(
        re.escape(NAME_PREFIX) + r"(\S+) \[connector:" + re.escape(connection) + r"\]", name or ""
    )
    return found.group(1) if found else None


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


class ServiceTitanJournalEntries:
    """ServiceTitan journal entries as F2's target."""

    def __init__(self, link: Link, settings: GlPostingSettings) -> None:
        self.link = link
        self.settings = settings

    @property
    def st(self) -> ServiceTitanClient:
        return self.link.servicetitan

    def lookup(
        self, records: Sequence[SourceRecord], since: datetime
    ) -> dict[str, str | Ambiguous]:
        """Entries created since `since` whose name carries this connection's marker for
        the records; an entry naming the proposal without the marker is never adopted."""
        wanted = {r.key for r in records}
        marked: dict[str, list[str]] = defaultdict(list)
        weak: dict[str, list[str]] = defaultdict(list)
        for entry in self.st.iter_pages(
            "accounting", "journal-entries", {"createdOnOrAfter": since}
        ):
            name = str(entry.get("name") or "")
            key = marked_key(name, self.link.name)
            if key in wanted:
                marked[key].append(str(entry["id"]))
            else:
                for candidate in wanted:
                    if f"{NAME_PREFIX}{candidate}" in name:
                        weak[candidate].append(str(entry["id"]))
        found: dict[str, str | Ambiguous] = {}
        for key in wanted:
            if len(marked[key]) == 1:
                found[key] = marked[key][0]
            elif marked[key]:
                found[key] = Ambiguous(
                    f"ServiceTitan journal entries {', '.join(marked[key])} all carry this "
                    "connection's marker; delete the extra ones in ServiceTitan, then replay"
                )
            elif weak[key]:
                found[key] = Ambiguous(
                    f"ServiceTitan journal entr(ies) {', '.join(weak[key])} name proposal "
                    f"{key} but not this connector's marker, so none is adopted or changed; "
                    "rename or delete it in ServiceTitan, then replay this record"
                )
        return found

    def _body(self, record: SourceRecord, version_id: int) -> dict[str, Any]:
        assert record.payload is not None
        return {
            **record.payload,
            "name": marked_name(record.payload["name"], self.link.name),
            "versionId": version_id,
        }

    def _refused(self, record: SourceRecord, exc: ApiError, doing: str) -> RecordFailure | None:
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

    def create(self, record: SourceRecord) -> str:
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
                url=self.st.engine.url(self.st.path("accounting", "journal-entries")),
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

    def update(self, record: SourceRecord, target_id: str) -> None:
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

    def cancel(self, record: SourceRecord, target_id: str) -> None:
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
