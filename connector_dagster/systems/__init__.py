"""The systems the connector talks to, one package each (`systems/ifs/`,
`systems/servicetitan/`), registered once: every sub-package whose `__init__` defines
`SYSTEM = System(...)`. The engine, the connections file, the vault, the CLI and the
pools read this registry; nothing outside a system's package names one system.

A system's package holds its client, the block of settings it takes in a connection
(`ifs:`, `servicetitan:`), the credentials it needs from the vault, the identity its
rate limit and Dagster pool are shared under, and its webhooks where it has them."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Generic, TypeVar

from connector_dagster.lib.settings import ConfigError
from connector_dagster.systems.settings import SystemSettings

SYSTEMS_PACKAGE = "connector_dagster.systems"

S = TypeVar("S", bound=SystemSettings)
T = TypeVar("T")


@dataclass(frozen=True)
class ClientContext:
    """What a client needs beyond its settings and credentials."""

    connection: str
    """The connection's name, for error messages."""
    database_url: str | None = None
    """The PostgreSQL that shares the system's rate limit among processes (None: per process)."""


@dataclass(frozen=True)
class System(Generic[S]):
    """One system the connector connects: how a connection names it and reaches it."""

    name: str
    """Its key in a connection (`ifs:`), in the vault and in pool names."""
    title: str
    """As people name it: IFS, ServiceTitan."""
    settings: type[S]
    """The model of its block in a connection of the connections file."""
    secrets: tuple[str, ...]
    """Vault fields a client needs (`credentials set C <system> <field>`)."""
    client: Callable[[S, Mapping[str, str], ClientContext], Any]
    """A client for one connection: its settings, its credentials and the context."""
    shared_by: Callable[[S], str]
    """Whom requests count against: the host or tenant every connection to it shares
    (one rate limit, one Dagster pool)."""
    optional_secrets: tuple[str, ...] = ()
    """Vault fields it may lack (a webhook signing key, say)."""
    webhooks: Callable[[S], Any] | None = None
    """Its webhook settings in a connection's block, when the system sends webhooks;
    the settings have `enabled`."""

    @property
    def fields(self) -> tuple[str, ...]:
        return (*self.secrets, *self.optional_secrets)

    def receives_webhooks(self, settings: S | None) -> bool:
        return bool(settings is not None and self.webhooks and self.webhooks(settings).enabled)


def client_settings(
    cls: type[T], block: SystemSettings, secrets: Mapping[str, str], context: ClientContext
) -> T:
    """A client's settings dataclass `cls` filled from a connection's block, the
    system's credentials and the context: every field of `cls` that one of them has."""
    given: dict[str, Any] = {
        **block.model_dump(),
        **secrets,
        "name": context.connection,
        "database_url": context.database_url,
    }
    return cls(**{f.name: given[f.name] for f in dataclasses.fields(cls) if f.name in given})  # type: ignore[arg-type]


@cache
def registered(package: str = SYSTEMS_PACKAGE) -> dict[str, System[Any]]:
    """System name -> system, discovered from the sub-packages of `package`."""
    root = importlib.import_module(package)
    found: dict[str, System[Any]] = {}
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda i: i.name):
        if not info.ispkg:
            continue
        system = getattr(importlib.import_module(f"{package}.{info.name}"), "SYSTEM", None)
        if system is None:
            continue
        if not isinstance(system, System):
            raise TypeError(f"{package}.{info.name}.SYSTEM must be a System(...)")
        if system.name in found:
            raise ValueError(f"two systems are named {system.name!r}")
        found[system.name] = system
    return found


def names() -> tuple[str, ...]:
    return tuple(registered())


def get(name: str) -> System[Any]:
    """The system `name`; ConfigError listing the systems when there is none."""
    known = registered()
    if name not in known:
        raise ConfigError(f"unknown system {name!r}; the systems are {', '.join(known)}")
    return known[name]
