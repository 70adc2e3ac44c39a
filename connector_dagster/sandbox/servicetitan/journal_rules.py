"""When the ServiceTitan simulator lets a journal entry be created, changed or
deleted: only External entries, only while Open, and never in a closed
accounting period. Each refusal is a 400 whose `data.code` says which rule.

Rules (the spec documents only 200 and 400; these are the simulator's reading
of ServiceTitan's accounting):

- `PUT` and `DELETE` work on `source: External` entries only
  (`JournalEntryNotExternal`), as the spec's summaries say.
- A `Closed` entry is locked: `PUT` and `DELETE` are refused until a `PATCH`
  sets it `Open` again (`JournalEntryClosed`).
- An accounting period (`YYYY-MM` of a post date) closed with
  `/_sandbox/accounting-periods/{period}/close` accepts no new entry, no
  change of content or status and no delete of an entry dated in it, nor a move
  of an entry into or out of it (`AccountingPeriodClosed`, with `data.period`).
  Sync updates and custom fields stay allowed. The errors name every date in
  a closed period; `data.period` is the first such period.
- A full update must name the current `versionId` (`VersionConflict`, with
  `data.currentVersionId`)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from connector_dagster.sandbox.servicetitan.common import (
    ApiError,
    Row,
    bad_request,
    fmt_date,
    parse_us,
)

PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
PERIOD_CLOSED = "AccountingPeriodClosed"
ENTRY_CLOSED = "JournalEntryClosed"
NOT_EXTERNAL = "JournalEntryNotExternal"
VERSION_CONFLICT = "VersionConflict"


def valid_period(text: str) -> str:
    """`text` if it names an accounting period `YYYY-MM`, else a 400."""
    if not PERIOD.fullmatch(text):
        raise bad_request("period", f"'{text}' is not an accounting period; use YYYY-MM.")
    return text


def entry_dates(je: Row) -> list[tuple[str, int]]:
    """(field, post date) of an entry and of each line that has its own."""
    dates = [("postDate", je["postDate"])]
    dates += [
        (f"lines[{n}].postDate", line["postDate"])
        for n, line in enumerate(je["lines"])
        if line.get("postDate") is not None
    ]
    return [(name, when) for name, when in dates if when is not None]


def body_dates(body: dict[str, Any], default: int) -> list[tuple[str, int]]:
    """(field, post date) a save request asks for; `default` when it names none."""
    header = body.get("postDate")
    dates = [("postDate", parse_us(header) if header else default)]
    dates += [
        (f"lines[{n}].postDate", parse_us(line["postDate"]))
        for n, line in enumerate(body.get("lines") or [])
        if line.get("postDate")
    ]
    return dates


def ensure_open(dates: Iterable[tuple[str, int]], closed: Iterable[str], number: Any) -> None:
    """Refuse when any date lies in a closed accounting period; the errors name
    every such date, `data.period` the first closed period (`data.periods` all)."""
    shut = set(closed)
    what = "A new journal entry" if number is None else f"Journal entry {number}"
    errors: dict[str, list[str]] = {}
    periods: list[str] = []
    for name, when in dates:
        day = fmt_date(when) or ""
        period = day[:7]
        if period in shut:
            errors[name] = [
                f"{what} is dated {day}, in the closed accounting period {period}; "
                "reopen the period in ServiceTitan or date the entry in an open one."
            ]
            periods += [] if period in periods else [period]
    if errors:
        raise ApiError(
            400,
            f"Accounting period {periods[0]} is closed.",
            errors,
            data={"code": PERIOD_CLOSED, "period": periods[0], "periods": periods},
        )


def ensure_changeable(je: Row, action: str) -> None:
    """Refuse a full update or a delete of an entry that is not External, or is Closed."""
    if je["source"] != "External":
        raise bad_request(
            "id",
            f"Journal entry {je['number']} comes from {je['source']}; only External "
            f"journal entries can be {action}.",
            f"Journal entry is {je['source']}.",
            data={"code": NOT_EXTERNAL},
        )
    if je["status"] == "Closed":
        raise bad_request(
            "status",
            f"Journal entry {je['number']} is Closed and cannot be {action}; set its status "
            "to Open (PATCH) first.",
            "Journal entry is closed.",
            data={"code": ENTRY_CLOSED},
        )


def ensure_version(je: Row, version: int) -> None:
    if version != je["versionId"]:
        raise bad_request(
            "versionId",
            f"The current version of journal entry {je['number']} is {je['versionId']}, "
            f"not {version}.",
            "Journal entry was changed by someone else; re-read it and retry.",
            data={"code": VERSION_CONFLICT, "currentVersionId": je["versionId"]},
        )
