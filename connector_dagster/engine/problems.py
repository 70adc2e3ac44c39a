"""What is wrong with one record, as its flow's mapping finds it: (reason, message)
pairs, every message naming the record (and the line), the field and the fix."""

from __future__ import annotations

from typing import Any

from connector_dagster.lib.mapping import Mappings, Table


class Problems(list[tuple[str, str]]):
    """(reason, message) pairs of one record; `add` prefixes the record's name."""

    def __init__(self, who: str) -> None:
        super().__init__()
        self.who = who

    def add(self, reason: str, message: str, *, where: str | None = None) -> None:
        self.append((reason, f"{where or self.who}: {message}"))

    def mapped(
        self,
        maps: Mappings,
        table: Table | str,
        code: Any,
        field: str,
        what: str,
        about: str = "",
        *,
        where: str | None = None,
    ) -> Any:
        """The table's entry for `code`, or None with a `mapping_missing` problem naming
        the field, the code (and `about` it) and the table to fill; or None with a
        `mapping_stale` problem when the entry points at a record the target no longer
        takes (`Mappings.stale`, naming the entry and its fix)."""
        kind = table.kind if isinstance(table, Table) else table
        stale = maps.stale_entry(kind, str(code))
        if stale is not None:
            self.add(
                "mapping_stale",
                f"{field} {str(code)!r}{f' ({about})' if about else ''}: {stale}, then replay "
                "this record",
                where=where,
            )
            return None
        value, bad = maps.entry(kind, str(code))
        if value is None:
            fix = f"correct it ({bad})" if bad else "add it"
            self.add(
                "mapping_missing",
                f"{field} {str(code)!r}{f' ({about})' if about else ''} has "
                f"{'an invalid' if bad else 'no'} {what} mapping; {fix} "
                f"in the `{kind}` table of the connection's mappings "
                f"(version {maps.version}), then replay this record",
                where=where,
            )
        return value
