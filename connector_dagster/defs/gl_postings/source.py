"""F2's source: a period's posting proposals in IFS (heads by voucher date, their rows,
with ETags), which changed since they were read (head or any row), and which
periods have changes since a History Log cursor."""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

import pandas as pd

from connector_dagster.defs.gl_postings.mapping import proposal_key
from connector_dagster.defs.gl_postings.settings import CODE_PARTS, GlPostingSettings
from connector_dagster.engine.link import Link
from connector_dagster.engine.periods import period_key
from connector_dagster.engine.spec import Changes, Frames, Item, Period, Read
from connector_dagster.lib import odata

READ = "ifs_gl_posting_proposals"
HEAD_FIELDS = ["Company", "ProposalId", "VoucherDate", "VoucherType", "Objstate", "Text",
               "Reference"]  # fmt: skip
ROW_FIELDS = ["Company", "ProposalId", "RowNo", "Account", *CODE_PARTS, "DebetAmount",
              "CreditAmount", "CurrencyDebetAmount", "CurrencyCreditAmount", "CurrencyCode",
              "PartyType", "PartyTypeId", "Text"]  # fmt: skip
HEAD_KEYS = ("Company", "ProposalId")
ROW_KEYS = ("Company", "ProposalId", "RowNo")
KEYS_PER_REQUEST = 25
_PROPOSAL_ID = re.compile(r"(?:^|\^)PROPOSAL_ID=([^^]*)\^")


def _chunks(values: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def version(head_etag: str | None, row_etags: Iterable[str | None]) -> str:
    """One version for a proposal: its head's ETag and a digest of its rows' ETags, so
    a change to any row counts as a change to the proposal."""
    rows = hashlib.sha256("\n".join(sorted(str(e) for e in row_etags)).encode()).hexdigest()
    return f"{head_etag}|{rows[:16]}"


class IfsPostingProposals:
    """IFS posting proposals as F2's source."""

    system = "IFS"

    def __init__(self, link: Link, settings: GlPostingSettings) -> None:
        self.link = link
        self.settings = settings

    @property
    def company(self) -> str:
        return self.link.connection.ifs.company

    def _rows(self, ids: Sequence[Any], select: list[str]) -> list[Any]:
        rows = []
        for chunk in _chunks(list(ids), KEYS_PER_REQUEST):
            rows.extend(
                self.link.ifs.query(
                    self.settings.rows_set,
                    filter=odata.and_(
                        odata.eq("Company", self.company), odata.any_of("ProposalId", chunk)
                    ),
                    select=select,
                    orderby=list(ROW_KEYS),
                    keys=ROW_KEYS,
                )
            )
        return rows

    def read(self, name: str, period: Period, upstream: Mapping[str, Frames]) -> Read:
        """Heads of the company whose VoucherDate lies in the period (every state), and
        all their rows, with ETags."""
        heads = [
            {**{f: row.get(f) for f in HEAD_FIELDS}, "etag": row.etag}
            for row in self.link.ifs.query(
                self.settings.headers_set,
                filter=odata.and_(
                    odata.eq("Company", self.company),
                    odata.ge("VoucherDate", period.start),
                    odata.lt("VoucherDate", period.end),
                ),
                select=HEAD_FIELDS,
                orderby=["ProposalId"],
                keys=HEAD_KEYS,
            )
        ]
        rows = [
            {**{f: row.get(f) for f in ROW_FIELDS}, "etag": row.etag}
            for row in self._rows([h["ProposalId"] for h in heads], ROW_FIELDS)
        ]
        frames = {
            "proposals": pd.DataFrame(heads, columns=[*HEAD_FIELDS, "etag"], dtype=object),
            "rows": pd.DataFrame(rows, columns=[*ROW_FIELDS, "etag"], dtype=object),
        }
        items = self.items({READ: frames})
        by_state = pd.Series([h["Objstate"] for h in heads]).value_counts().to_dict()
        return Read(
            frames,
            versions=[(i.key, i.version) for i in items],
            metadata={"proposals": len(heads), "rows": len(rows), "by_state": by_state},
        )

    def items(self, reads: Mapping[str, Frames]) -> list[Item]:
        frames = reads[READ]
        heads = frames["proposals"].astype(object).where(frames["proposals"].notna(), None)
        rows_frame = frames["rows"].astype(object).where(frames["rows"].notna(), None)
        rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows_frame.to_dict("records"):
            rows[proposal_key(row["Company"], row["ProposalId"])].append(row)
        items = []
        for head in heads.to_dict("records"):
            key = proposal_key(head["Company"], head["ProposalId"])
            own = rows.get(key, [])
            items.append(
                Item(
                    key,
                    version(head["etag"], (r["etag"] for r in own)),
                    {"proposal": head, "rows": own},
                )
            )
        return items

    def changed(self, versions: Mapping[str, str | None]) -> set[str]:
        """Proposals whose head or any row changed since the version read (or are gone)."""
        ids = {k: k.rsplit("-", 1)[-1] for k in versions}
        etags: dict[str, str | None] = {}
        row_etags: dict[str, list[str | None]] = defaultdict(list)
        for chunk in _chunks(sorted(set(ids.values())), KEYS_PER_REQUEST):
            for head in self.link.ifs.query(
                self.settings.headers_set,
                filter=odata.and_(
                    odata.eq("Company", self.company),
                    odata.any_of("ProposalId", [int(i) for i in chunk]),
                ),
                select=["Company", "ProposalId"],
                orderby=["ProposalId"],
                keys=HEAD_KEYS,
            ):
                etags[proposal_key(head["Company"], head["ProposalId"])] = head.etag
        for row in self._rows([int(i) for i in set(ids.values())], list(ROW_KEYS)):
            row_etags[proposal_key(row["Company"], row["ProposalId"])].append(row.etag)
        current = {
            k: version(etags[k], row_etags.get(k, [])) if k in etags else None for k in versions
        }
        return {k for k in versions if current[k] != versions[k]}

    def changes(self, cursor: str | None) -> Changes:
        """Proposals whose head or rows changed after History Log id `cursor`, by the
        period of their voucher date. Nothing changed: one request."""
        ifs, settings = self.link.ifs, self.settings
        logged = odata.any_of("LuName", settings.history_lu_names)
        if cursor is None:
            last = next(
                ifs.query(settings.history_set, filter=logged, select=["LogId"],
                          orderby=["LogId desc"], top=1, keys=("LogId",)),
                None,
            )  # fmt: skip
            return Changes({}, str(last["LogId"] if last else 0))
        logs = list(
            ifs.query(
                settings.history_set,
                filter=odata.and_(logged, odata.gt("LogId", int(cursor))),
                select=["LogId", "Keys"],
                orderby=["LogId"],
                top=settings.history_page,
                keys=("LogId",),
            )
        )
        if not logs:
            return Changes({}, cursor)
        ids = sorted(
            {int(m.group(1)) for r in logs if (m := _PROPOSAL_ID.search(str(r.get("Keys") or "")))}
        )
        periods: Counter[str] = Counter()
        requests = 1
        for chunk in _chunks(ids, KEYS_PER_REQUEST):
            requests += 1
            for head in ifs.query(
                settings.headers_set,
                filter=odata.and_(
                    odata.eq("Company", self.company), odata.any_of("ProposalId", chunk)
                ),
                select=["ProposalId", "VoucherDate"],
                orderby=["ProposalId"],
                keys=HEAD_KEYS,
            ):
                periods[period_key(date.fromisoformat(str(head["VoucherDate"])[:10]))] += 1
        return Changes(dict(periods), str(logs[-1]["LogId"]), requests)
