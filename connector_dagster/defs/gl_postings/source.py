"""F2's source: a period's posting proposals in IFS (heads by voucher date, their rows,
with ETags), which changed since they were read (head or any row), and which
periods have changes since a History Log cursor."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from connector_dagster.defs.gl_postings.mapping import proposal_key
from connector_dagster.defs.gl_postings.settings import CODE_PARTS, GlPostingSettings
from connector_dagster.engine.periods import period_key
from connector_dagster.engine.records import Changes, Frames, Item, Period, Read
from connector_dagster.engine.session import FlowPart
from connector_dagster.systems.ifs import history as ifs_history
from connector_dagster.systems.ifs import odata

READ = "ifs_gl_posting_proposals"
HEAD_FIELDS = ["Company", "ProposalId", "VoucherDate", "VoucherType", "Objstate", "Text",
               "Reference"]  # fmt: skip
ROW_FIELDS = ["Company", "ProposalId", "RowNo", "Account", *CODE_PARTS, "DebetAmount",
              "CreditAmount", "CurrencyDebetAmount", "CurrencyCreditAmount", "CurrencyCode",
              "PartyType", "PartyTypeId", "Text"]  # fmt: skip
HEAD_KEYS = ("Company", "ProposalId")
ROW_KEYS = ("Company", "ProposalId", "RowNo")


def version(head_etag: str | None, row_etags: Iterable[str | None]) -> str:
    """One version for a proposal: its head's ETag and a digest of its rows' ETags, so
    a change to any row counts as a change to the proposal."""
    rows = hashlib.sha256("\n".join(sorted(str(e) for e in row_etags)).encode()).hexdigest()
    return f"{head_etag}|{rows[:16]}"


class IfsPostingProposals(FlowPart[GlPostingSettings]):
    """IFS posting proposals as F2's source."""

    system = "IFS"

    @property
    def company(self) -> str:
        return self.session.connection.ifs.company

    def _rows(self, ids: Sequence[Any], select: list[str]) -> list[Any]:
        return list(
            self.session.ifs.query_any_of(
                self.settings.rows_set, "ProposalId", ids,
                filter=odata.eq("Company", self.company), select=select, keys=ROW_KEYS,
            )
        )  # fmt: skip

    def read(self, name: str, period: Period, upstream: Mapping[str, Frames]) -> Read:
        """Heads of the company whose VoucherDate lies in the period (every state), and
        all their rows, with ETags."""
        heads = [
            {**{f: row.get(f) for f in HEAD_FIELDS}, "etag": row.etag}
            for row in self.session.ifs.query(
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
        for head in self.session.ifs.query_any_of(
            self.settings.headers_set, "ProposalId", [int(i) for i in sorted(set(ids.values()))],
            filter=odata.eq("Company", self.company), select=["Company", "ProposalId"],
            keys=HEAD_KEYS,
        ):  # fmt: skip
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
        ifs, settings = self.session.ifs, self.settings
        logged = ifs_history.logged_keys(
            ifs, settings.history_set, settings.history_lu_names, "PROPOSAL_ID", cursor,
            settings.history_page, convert=int,
        )  # fmt: skip
        dates, requests = ifs_history.dates_of(
            ifs, settings.headers_set, self.company, "ProposalId", logged.keys, "VoucherDate",
            HEAD_KEYS,
        )  # fmt: skip
        periods = Counter(period_key(d) for d in dates)
        return Changes(dict(periods), logged.cursor, logged.requests + requests)
