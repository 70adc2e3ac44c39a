"""Mapping entries checked against the systems' live master data before a write: an
entry that points at a record the target no longer takes (gone, inactive, blocked)
parks the records that need it as `mapping_stale`, naming the entry and its fix,
instead of sending a write the target would reject. Each list is read once per
write step (paged), whatever the number of records."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connector_dagster.lib.mapping import Mappings
from connector_dagster.lib.master import Record


@dataclass(frozen=True)
class Master:
    """One list of master records of a system, read with the connection's session."""

    title: str
    """What one record is, for people: `ServiceTitan vendor`."""
    read: Callable[[Any], list[Record]]
    """`read(link)`: every record of the list, inactive ones included."""
    inactive: str = "inactive"
    """How the system calls a record it takes no new documents for (`blocked`)."""


@dataclass(frozen=True)
class LiveCheck:
    """A mapping table whose entries point at records of a master list."""

    table: str
    key: str
    """What the table's keys are, for the fix: `vendor` -> "map vendor V1005 to ..."."""
    master: Master
    field: str | None = None
    """The entry's field that points at the record (`account` of a tax code entry);
    None when the entry is the record's id itself."""

    def target(self, entry: Any) -> Any:
        return entry.get(self.field) if self.field and isinstance(entry, dict) else entry


def where_to_fix(maps_file: str) -> str:
    """The mapping file as people name it: `mappings/sandbox.yaml`."""
    path = Path(maps_file)
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def stale_entries(
    checks: Iterable[LiveCheck], session: Any, maps: Mappings
) -> dict[str, dict[str, str]]:
    """Table -> code -> why the entry is stale, with its fix, for every entry of the
    checked tables whose record is gone or not active. Each master list is read once."""
    lists: dict[Master, dict[str, Record]] = {}
    found: dict[str, dict[str, str]] = {}
    fix_in = where_to_fix(session.connection.mappings)
    for check in checks:
        if check.master not in lists:
            lists[check.master] = {r.code: r for r in check.master.read(session)}
        records = lists[check.master]
        for code, entry in sorted(maps.table(check.table).items()):
            value = check.target(entry)
            if value is None:
                continue
            record = records.get(str(value))
            if record is not None and record.active:
                continue
            what = check.master.title
            state = (
                "which no longer exists"
                if record is None
                else f"{record.name!r}, which is {check.master.inactive}"
            )
            pointed = f"{check.field} {value!r}" if check.field else repr(value)
            found.setdefault(check.table, {})[code] = (
                f"the `{check.table}` entry {code!r} -> {pointed} points at {what} {value} "
                f"{state}; map {check.key} {code} to an active {what} in the "
                f"`{check.table}` table of {fix_in} (mapping version {maps.version})"
            )
    return found


def checked(checks: tuple[LiveCheck, ...], session: Any, maps: Mappings) -> Mappings:
    """The mappings with their stale entries marked (unchanged without checks)."""
    if not checks:
        return maps
    return maps.with_stale(stale_entries(checks, session, maps))
