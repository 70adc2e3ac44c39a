"""The flows there are: every folder under `connector_dagster/defs/` with a `spec.py`
that declares `SPEC`. Adding a flow is adding a folder; nothing here names one."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path

from connector_dagster.engine import connections
from connector_dagster.engine.connections import Connection
from connector_dagster.engine.spec import FlowSpec
from connector_dagster.lib.mapping import Table
from connector_dagster.lib.settings import ConfigError

FLOWS_PACKAGE = "connector_dagster.defs"


@cache
def flows(package: str = FLOWS_PACKAGE) -> dict[str, FlowSpec]:
    """Flow name -> spec, discovered from the sub-packages of `package`."""
    root = importlib.import_module(package)
    found: dict[str, FlowSpec] = {}
    for info in pkgutil.iter_modules(root.__path__):
        if not info.ispkg or not (Path(root.__path__[0]) / info.name / "spec.py").exists():
            continue
        spec = getattr(importlib.import_module(f"{package}.{info.name}.spec"), "SPEC", None)
        if not isinstance(spec, FlowSpec):
            raise TypeError(f"{package}.{info.name}.spec must define SPEC = FlowSpec(...)")
        if spec.name in found:
            raise ValueError(f"two flows are named {spec.name!r}")
        found[spec.name] = spec
    return found


def flow(name: str) -> FlowSpec:
    """The spec of flow `name`; ConfigError listing the flows when there is none."""
    known = flows()
    if name not in known:
        raise ConfigError(f"unknown flow {name!r}; the flows are {', '.join(sorted(known))}")
    return known[name]


def tables() -> tuple[Table, ...]:
    """Every mapping table some flow reads. A table several flows read (vendors, say)
    is listed once; they must agree on its entry type."""
    by_kind: dict[str, tuple[str, Table]] = {}
    for name, spec in flows().items():
        for table in spec.tables:
            first = by_kind.setdefault(table.kind, (name, table))
            if first[1].entry != table.entry:
                raise TypeError(
                    f"flows {first[0]} and {name} both read mapping table {table.kind!r} "
                    "but declare different entry types; declare it the same way in both"
                )
    return tuple(by_kind[k][1] for k in sorted(by_kind))


def load_connections() -> dict[str, Connection]:
    """The connections file, each connection's `flows:` block checked by the flows' models."""
    return connections.load(flow_models={name: spec.settings for name, spec in flows().items()})


def connection(name: str) -> Connection:
    conns = load_connections()
    if name not in conns:
        raise ConfigError(
            f"connection {name!r} is not in {connections.connections_path()}; "
            f"the connections are {', '.join(sorted(conns)) or '(none)'}"
        )
    return conns[name]
