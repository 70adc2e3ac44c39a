"""What F3's and F4's sources share: read rows as frames (and back), the period a read
was made for, a ServiceTitan source's session and settings, and the change feed of
`accounting` documents (`modified_since`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import pandas as pd

from connector_dagster.engine.periods import period_key
from connector_dagster.engine.records import Changes, Period
from connector_dagster.engine.session import FlowPart
from connector_dagster.kits.postings.settings import PostingSettings
from connector_dagster.systems.servicetitan.client import ServiceTitanClient

PERIOD_FIELDS = ["key", "start", "end"]
S = TypeVar("S", bound=PostingSettings)


class ServiceTitanDocuments(FlowPart[S]):
    """A flow's ServiceTitan documents as its source: the session and the flow's settings."""

    system = "ServiceTitan"

    @property
    def st(self) -> ServiceTitanClient:
        return self.session.servicetitan


def frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame([[r.get(c) for c in columns] for r in rows], columns=columns, dtype=object)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows as dicts, missing values as None."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def period_frame(period: Period) -> pd.DataFrame:
    """The period a read was made for, kept with it so that checks and mapping see it."""
    row = {"key": period.key, "start": period.start.isoformat(), "end": period.end.isoformat()}
    return frame([row], PERIOD_FIELDS)


def _stamp(text: Any) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def modified_since(
    st: ServiceTitanClient,
    path: str,
    params: Mapping[str, Any],
    cursor: str | None,
    business_date: str,
) -> Changes:
    """Periods (by `business_date`) of the `accounting/<path>` documents modified after
    `cursor` (a `modifiedOn`), and the cursor to go on from. With no cursor: none, and
    a cursor of now by ServiceTitan's clock (its `Date` header), so that no clock of
    ours decides what is new. Nothing changed: one request."""
    if cursor is None:
        reply = st.transport.request("GET", st.path("accounting", path, {**params, "pageSize": 1}))
        sent = reply.headers.get("date")
        now = parsedate_to_datetime(sent) if sent else datetime.now(UTC)
        return Changes({}, (now - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    after, last = _stamp(cursor), cursor
    periods: Counter[str] = Counter()
    requests = 0
    number = 1
    while True:
        requests += 1
        page = st.get(
            "accounting",
            path,
            {**params, "modifiedOnOrAfter": cursor, "page": number,
             "pageSize": st.settings.page_size},
        )  # fmt: skip
        for row in page.get("data") or []:
            if _stamp(row["modifiedOn"]) > after:
                periods[period_key(date.fromisoformat(str(row[business_date])[:10]))] += 1
                if _stamp(row["modifiedOn"]) > _stamp(last):
                    last = str(row["modifiedOn"])
        if not page.get("hasMore"):
            return Changes(dict(periods), last, requests)
        number += 1
