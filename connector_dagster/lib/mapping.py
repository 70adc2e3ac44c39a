"""Mapping tables (IFS codes <-> ServiceTitan ids), versioned, kept in PostgreSQL.

A connection's mapping file in the repo is loaded into `connector.mappings`
when its `version` has not been loaded yet; operators may then edit single
entries (`set_entry`), which creates a new version. Every write records the
version it used. Which tables exist is declared by the flows that read them
(`Table`), passed in by the caller.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from connector_dagster.lib.settings import ConfigError
from connector_dagster.lib.store import Store


@dataclass(frozen=True)
class Table:
    """One mapping table a flow reads: its name (the key in the mapping file) and
    what its entries map, for people."""

    kind: str
    description: str


@dataclass(frozen=True)
class Mappings:
    version: str
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)

    def table(self, kind: str) -> dict[str, Any]:
        return self.tables.get(kind, {})


def _kinds(tables: Iterable[Table]) -> tuple[str, ...]:
    return tuple(sorted({t.kind for t in tables}))


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
    return Mappings(str(version), result)


def _hash(tables: dict[str, dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(tables, sort_keys=True, default=str).encode()).hexdigest()


def ensure_loaded(store: Store, connection: str, path: str | Path, tables: Iterable[Table]) -> str:
    """Load the file into the database if its version is new; return the current version."""
    mappings = load_file(path, tables)
    with store.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"mappings:{connection}",))
        cur.execute(
            "SELECT 1 FROM connector.mapping_versions WHERE connection = %s AND version = %s",
            (connection, mappings.version),
        )
        if cur.fetchone() is None:
            cur.execute(
                """INSERT INTO connector.mapping_versions (connection, version, source,
                                                           content_hash)
                   VALUES (%s, %s, %s, %s)""",
                (connection, mappings.version, str(path), _hash(mappings.tables)),
            )
            cur.execute("DELETE FROM connector.mappings WHERE connection = %s", (connection,))
            for kind, table in mappings.tables.items():
                for source_value, target in table.items():
                    cur.execute(
                        """INSERT INTO connector.mappings
                               (connection, kind, source_value, target, version)
                           VALUES (%s, %s, %s, %s, %s)""",
                        (connection, kind, source_value, json.dumps(target), mappings.version),
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


def load(store: Store, connection: str) -> Mappings:
    """The connection's mappings as they are in the database now."""
    version = current_version(store, connection)
    tables: dict[str, dict[str, Any]] = {}
    with store.cursor() as cur:
        cur.execute(
            "SELECT kind, source_value, target FROM connector.mappings WHERE connection = %s",
            (connection,),
        )
        for kind, source_value, target in cur.fetchall():
            tables.setdefault(kind, {})[source_value] = target
    return Mappings(version, tables)


def set_entry(
    store: Store,
    connection: str,
    kind: str,
    source_value: str,
    target: Any,
    tables: Iterable[Table],
) -> str:
    """Add or change one mapping entry (None removes it); returns the new version."""
    kinds = _kinds(tables)
    if kind not in kinds:
        raise ConfigError(f"unknown mapping kind {kind!r}; one of {', '.join(kinds)}")
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
