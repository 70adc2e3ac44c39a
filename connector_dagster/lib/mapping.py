"""Mapping tables (IFS codes <-> ServiceTitan ids), versioned, kept in PostgreSQL.

A connection's mapping file in the repo is loaded into `connector.mappings`
when its `version` has not been loaded yet; operators may then edit single
entries (`set_entry`), which creates a new version. Every write records the
version it used. Which tables exist is declared by the flows that read them
(`Table`), passed in by the caller.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from connector_dagster.lib.settings import ConfigError
from connector_dagster.lib.store import Store


@dataclass(frozen=True)
class Table:
    """One mapping table a flow reads: its name (the key in the mapping file), what
    its entries map (for people), and the type every entry must have (checked with
    pydantic: a bad entry is set aside, and only the records that need it wait)."""

    kind: str
    description: str
    entry: Any = Any


@dataclass(frozen=True)
class Mappings:
    version: str
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    invalid: dict[str, dict[str, str]] = field(default_factory=dict)
    """Entries that are not of their table's type: kind -> code -> what is wrong."""
    stale: dict[str, dict[str, str]] = field(default_factory=dict)
    """Entries that point at a record the target no longer takes (gone, inactive,
    blocked), as a write found them in the systems' master data: kind -> code -> why,
    with the fix."""

    def table(self, kind: str) -> dict[str, Any]:
        """The valid entries of a table."""
        return self.tables.get(kind, {})

    def entry(self, kind: str, code: str) -> tuple[Any | None, str | None]:
        """(target, None) for a valid entry; (None, problem) for an invalid one;
        (None, None) when there is no entry."""
        if code in self.invalid.get(kind, {}):
            return None, self.invalid[kind][code]
        return self.table(kind).get(code), None

    def stale_entry(self, kind: str, code: str) -> str | None:
        """Why the entry of `code` is stale, with its fix; None when it is not."""
        return self.stale.get(kind, {}).get(code)

    def with_stale(self, stale: dict[str, dict[str, str]]) -> Mappings:
        """These mappings with `stale` entries marked."""
        return dataclasses.replace(self, stale=stale)

    def problems(self) -> list[str]:
        """Every invalid entry, named as `kind[code]: problem`."""
        return [
            f"{kind}[{code!r}]: {problem}"
            for kind, entries in sorted(self.invalid.items())
            for code, problem in sorted(entries.items())
        ]


def _kinds(tables: Iterable[Table]) -> tuple[str, ...]:
    return tuple(sorted({t.kind for t in tables}))


@cache
def _adapter(entry: Any) -> TypeAdapter:
    return TypeAdapter(entry)


def check_entry(table: Table, target: Any) -> tuple[Any, str | None]:
    """The entry as plain JSON data if it is of the table's type, else (None, why)."""
    adapter = _adapter(table.entry)
    try:
        return adapter.dump_python(adapter.validate_python(target), mode="json"), None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        return None, f"{where + ': ' if where else ''}{err['msg']} (got {target!r})"


def _checked(
    raw: dict[str, dict[str, Any]], tables: Iterable[Table]
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, str]]]:
    by_kind = {t.kind: t for t in tables}
    valid: dict[str, dict[str, Any]] = {}
    invalid: dict[str, dict[str, str]] = {}
    for kind, entries in raw.items():
        table = by_kind.get(kind)
        for code, target in entries.items():
            if table is None:
                valid.setdefault(kind, {})[code] = target
                continue
            value, problem = check_entry(table, target)
            if problem is None:
                valid.setdefault(kind, {})[code] = value
            else:
                invalid.setdefault(kind, {})[code] = problem
    return valid, invalid


def load_file(path: str | Path, tables: Iterable[Table]) -> Mappings:
    """Read and check a mapping file against the declared tables."""
    path = Path(path)
    kinds = _kinds(tables)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"mapping file {path} cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"mapping file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"mapping file {path} must map table names to tables (and `version`), "
            f"not be a {type(data).__name__}"
        )
    version = data.pop("version", None)
    if not version:
        raise ConfigError(f"mapping file {path} has no `version`")
    unknown = sorted(set(data) - set(kinds))
    if unknown:
        raise ConfigError(
            f"mapping file {path}: unknown table(s) {', '.join(unknown)}; "
            f"the flows read {', '.join(kinds)}"
        )
    result: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        table = data.get(kind) or {}
        if not isinstance(table, dict):
            raise ConfigError(f"mapping file {path}: `{kind}` must map source codes to targets")
        result[kind] = {str(k): v for k, v in table.items()}
    valid, invalid = _checked(result, tables)
    return Mappings(str(version), {k: valid.get(k, {}) for k in kinds}, invalid)


def _hash(tables: dict[str, dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(tables, sort_keys=True, default=str).encode()).hexdigest()


def ensure_loaded(store: Store, connection: str, path: str | Path, tables: Iterable[Table]) -> str:
    """Load the file into the database if its version is new; return the current version."""
    tables = tuple(tables)
    mappings = load_file(path, tables)
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    with store.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"mappings:{connection}",))
        cur.execute(
            """SELECT content_hash FROM connector.mapping_versions
               WHERE connection = %s AND version = %s""",
            (connection, mappings.version),
        )
        loaded = cur.fetchone()
        if loaded is not None and loaded[0] != _hash(mappings.tables):
            raise ConfigError(
                f"mapping file {path} for connection {connection!r} differs from version "
                f"{mappings.version!r} already loaded, but its `version` is the same: "
                "bump `version` in the file, then load it again"
            )
        if loaded is None:
            cur.execute(
                """INSERT INTO connector.mapping_versions (connection, version, source,
                                                           content_hash)
                   VALUES (%s, %s, %s, %s)""",
                (connection, mappings.version, str(path), _hash(mappings.tables)),
            )
            cur.execute("DELETE FROM connector.mappings WHERE connection = %s", (connection,))
            for kind in mappings.tables:
                for source_value, target in (raw.get(kind) or {}).items():
                    cur.execute(
                        """INSERT INTO connector.mappings
                               (connection, kind, source_value, target, version)
                           VALUES (%s, %s, %s, %s, %s)""",
                        (connection, kind, str(source_value), json.dumps(target), mappings.version),
                    )
    return current_version(store, connection)


def current_version(store: Store, connection: str) -> str:
    with store.cursor() as cur:
        cur.execute(
            """SELECT version FROM connector.mapping_versions WHERE connection = %s
               ORDER BY loaded_at DESC, version DESC LIMIT 1""",
            (connection,),
        )
        row = cur.fetchone()
    if row is None:
        raise ConfigError(f"connection {connection!r} has no mappings loaded")
    return row[0]


def load(store: Store, connection: str, tables: Iterable[Table] = ()) -> Mappings:
    """The connection's mappings as they are in the database now, each entry checked
    against its table's type (the bad ones set aside in `Mappings.invalid`)."""
    version = current_version(store, connection)
    raw: dict[str, dict[str, Any]] = {}
    with store.cursor() as cur:
        cur.execute(
            "SELECT kind, source_value, target FROM connector.mappings WHERE connection = %s",
            (connection,),
        )
        for kind, source_value, target in cur.fetchall():
            raw.setdefault(kind, {})[source_value] = target
    valid, invalid = _checked(raw, tables)
    return Mappings(version, valid, invalid)


def set_entry(
    store: Store,
    connection: str,
    kind: str,
    source_value: str,
    target: Any,
    tables: Iterable[Table],
) -> str:
    """Add or change one mapping entry (None removes it); returns the new version."""
    tables = tuple(tables)
    kinds = _kinds(tables)
    if kind not in kinds:
        raise ConfigError(f"unknown mapping kind {kind!r}; one of {', '.join(kinds)}")
    table = next(t for t in tables if t.kind == kind)
    if target is not None:
        _, problem = check_entry(table, target)
        if problem is not None:
            raise ConfigError(f"{kind}[{source_value!r}] must be {table.description}: {problem}")
    base = current_version(store, connection).split("+edit")[0]
    with store.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"mappings:{connection}",))
        cur.execute(
            "SELECT count(*) FROM connector.mapping_versions WHERE connection = %s "
            "AND version LIKE %s",
            (connection, f"{base}+edit%"),
        )
        version = f"{base}+edit{cur.fetchone()[0] + 1}"
        if target is None:
            cur.execute(
                "DELETE FROM connector.mappings WHERE connection = %s AND kind = %s "
                "AND source_value = %s",
                (connection, kind, source_value),
            )
        else:
            cur.execute(
                """INSERT INTO connector.mappings (connection, kind, source_value, target, version)
                   VALUES (%s, %s, %s, %s, %s)
                   ON CONFLICT (connection, kind, source_value) DO UPDATE
                   SET target = EXCLUDED.target, version = EXCLUDED.version,
                       updated_at = now()""",
                (connection, kind, source_value, json.dumps(target), version),
            )
        cur.execute(
            """INSERT INTO connector.mapping_versions (connection, version, source, content_hash)
               VALUES (%s, %s, 'edit', %s)""",
            (connection, version, _hash({kind: {source_value: target}})),
        )
    return version
