"""The connections file: one or more connections, validated on load.

Each connection has a block per system it reaches (`ifs:`, `servicetitan:`: whatever
systems are registered under `connector_dagster/systems/`, each validated by its own
model), its books' timezone and close calendar, and under `flows:` the settings of
each flow it runs (validated by the flow's own model, passed in by the caller).
Secrets are not here: they live in the vault. Errors name the file, line and field.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from connector_dagster import systems
from connector_dagster.lib.settings import CONNECTIONS_FILE_VAR, PROJECT_ROOT, ConfigError
from connector_dagster.systems.settings import SettingsModel as _Model
from connector_dagster.systems.settings import SystemSettings

DEFAULT_FILE = PROJECT_ROOT / "connections.yaml"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TEAM = re.compile(r"^team:[A-Za-z0-9_-]+$")


class CloseCalendar(_Model):
    """The month-end close, in the books' timezone: for `business_days` business days
    of the new month, the prior period is run nightly at `hour`, then reconciled at
    `reconcile_hour`."""

    business_days: int = Field(5, ge=1, le=15)
    """How many business days the close window lasts."""
    hour: int = Field(6, ge=0, le=23)
    reconcile_hour: int | None = Field(None, ge=0, le=23)
    """When the prior period is reconciled on close days (default: two hours after `hour`)."""
    workdays: list[int] = [1, 2, 3, 4, 5]
    """ISO weekdays that are business days (1 = Monday)."""
    holidays: list[str] = []
    """Dates (YYYY-MM-DD) that are not business days."""

    @field_validator("workdays")
    @classmethod
    def _workdays(cls, v: list[int]) -> list[int]:
        if not v or any(d not in range(1, 8) for d in v):
            raise ValueError("must list ISO weekdays 1 (Monday) to 7 (Sunday), at least one")
        return sorted(set(v))

    @field_validator("holidays")
    @classmethod
    def _holidays(cls, v: list[str]) -> list[str]:
        for day in v:
            try:
                date.fromisoformat(day)
            except ValueError:
                raise ValueError(f"holiday {day!r} is not a date YYYY-MM-DD") from None
        return v

    @property
    def reconcile_at(self) -> int:
        return self.reconcile_hour if self.reconcile_hour is not None else (self.hour + 2) % 24


class Polling(_Model):
    cron: str = "*/30 6-20 * * 1-5"
    """Intraday runs of the open period (books' timezone)."""
    change_interval_s: int = Field(60, ge=10, le=3600)
    """How often a flow's change sensor asks its source what changed."""


class LeaseSettings(_Model):
    """Per-record leases of the write steps (see `lib/leases.py` for the bound): a
    lease lasts `ttl_s` unless renewed, and is renewed every `renew_s`."""

    ttl_s: float = Field(30, gt=0, le=3600)
    renew_s: float = Field(5, gt=0, le=1200)

    @model_validator(mode="after")
    def _renewed_in_time(self) -> LeaseSettings:
        if self.renew_s * 3 > self.ttl_s:
            raise ValueError(
                f"renew_s ({self.renew_s:g}) must be at most a third of ttl_s ({self.ttl_s:g}), "
                "so that a late renewal does not lose the lease"
            )
        return self


class Connection(_Model):
    name: str = ""
    timezone: str = "UTC"
    start_period: str = "2025-10-01"
    mappings: str
    close: CloseCalendar = CloseCalendar()
    polling: Polling = Polling()
    leases: LeaseSettings = LeaseSettings()
    flows: dict[str, Any] = {}
    """Per flow: its settings block (validated by the flow's model when one is given)."""
    owners: tuple[str, ...] = ()
    """Who answers for its assets in Dagster: emails or `team:<name>`."""

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown timezone {v!r} (use an IANA name like America/Chicago)"
            ) from None
        return v

    @field_validator("owners")
    @classmethod
    def _owners(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [o for o in v if not (_EMAIL.match(o) or _TEAM.match(o))]
        if bad:
            raise ValueError(
                f"{', '.join(map(repr, bad))}: an owner is an email (ap@acme.com) or a team "
                "(team:finance)"
            )
        return v

    @field_validator("start_period")
    @classmethod
    def _period(cls, v: str) -> str:
        if not re.match(r"^\d{4}-\d{2}-01$", v):
            raise ValueError("must be the first day of a month, YYYY-MM-01")
        return v

    # Each registered system is a field of its own, added by `model()`: `conn.ifs`.

    @model_validator(mode="after")
    def _reaches_a_system(self) -> Connection:
        if not self.systems:
            raise ValueError(
                f"names no system; give it a block for each system it reaches "
                f"({', '.join(systems.names())})"
            )
        return self

    @property
    def systems(self) -> dict[str, SystemSettings]:
        """System name -> this connection's block for it, for the systems it has."""
        return {
            name: block
            for name in systems.names()
            if (block := getattr(self, name, None)) is not None
        }

    def system(self, name: str) -> SystemSettings:
        """This connection's block for system `name`; ConfigError when it has none."""
        block = self.systems.get(name)
        if block is None:
            raise ConfigError(
                f"connection {self.name!r} has no `{systems.get(name).name}:` block in "
                f"{connections_path()}; add one to reach {systems.get(name).title}"
            )
        return block

    def pool(self, system: str) -> str:
        """The Dagster concurrency pool of the host or tenant this connection reaches
        `system` on: steps calling the same API share it."""
        shared_by = systems.get(system).shared_by(self.system(system))
        return f"{system}_" + re.sub(r"[^A-Za-z0-9]+", "_", shared_by)

    def flow(self, name: str) -> Any | None:
        """The settings of flow `name` if the connection runs it (listed and enabled)."""
        settings = self.flows.get(name)
        if isinstance(settings, dict):
            return settings if settings.get("enabled", True) else None
        return settings if settings is not None and getattr(settings, "enabled", True) else None


@cache
def model() -> type[Connection]:
    """`Connection` with a field per registered system (its block, optional)."""
    fields: dict[str, Any] = {
        name: (system.settings | None, None) for name, system in systems.registered().items()
    }
    return create_model("Connection", __base__=Connection, **fields)


@cache
def _file_model() -> type[BaseModel]:
    return create_model(
        "ConnectionsFile",
        __base__=_Model,
        connections=(dict[str, model()], ...),  # type: ignore[valid-type]
        default=(str, "sandbox"),
    )


def connections_path() -> Path:
    return Path(os.environ.get(CONNECTIONS_FILE_VAR) or DEFAULT_FILE)


def load(
    path: Path | None = None, flow_models: Mapping[str, type[BaseModel]] | None = None
) -> dict[str, Connection]:
    """Load and validate; raise ConfigError naming the file, line and field.

    With `flow_models` (flow name -> settings model), each connection's `flows:`
    block is validated too: an unknown flow or a bad setting is an error, and
    `Connection.flows` then holds the validated models."""
    path = path or connections_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"connections file {path} cannot be read ({exc.strerror}); "
            f"set {CONNECTIONS_FILE_VAR} to its path"
        ) from None
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML: {exc}") from None
    try:
        parsed = _file_model().model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"]]
        line = _line_of(root, loc)
        where = f":{line}" if line else ""
        raise ConfigError(
            f"{path}{where}: {'.'.join(loc) or '(top level)'}: {err['msg']}"
            + (f" ({len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else "")
        ) from None
    result: dict[str, Connection] = {}
    for name, conn in parsed.connections.items():
        if not _NAME.match(name):
            raise ConfigError(
                f"{path}:{_line_of(root, ['connections', name])}: connection name {name!r} "
                "must be lowercase letters, digits and _ (it becomes an asset key prefix)"
            )
        mapping_path = Path(conn.mappings)
        if not mapping_path.is_absolute():
            mapping_path = path.parent / mapping_path
        flows = conn.flows
        if flow_models is not None:
            flows = _validate_flows(path, root, name, conn.flows, flow_models)
        result[name] = conn.model_copy(
            update={"name": name, "mappings": str(mapping_path), "flows": flows}
        )
    return result


def _validate_flows(
    path: Path,
    root: Any,
    name: str,
    blocks: Mapping[str, Any],
    models: Mapping[str, type[BaseModel]],
) -> dict[str, Any]:
    validated: dict[str, Any] = {}
    for flow, block in blocks.items():
        loc = ["connections", name, "flows", flow]
        if flow not in models:
            raise ConfigError(
                f"{path}:{_line_of(root, loc)}: {'.'.join(loc)}: unknown flow {flow!r}; "
                f"the flows are {', '.join(sorted(models))}"
            )
        try:
            validated[flow] = models[flow].model_validate(block or {})
        except ValidationError as exc:
            err = exc.errors()[0]
            where = loc + [str(p) for p in err["loc"]]
            raise ConfigError(
                f"{path}:{_line_of(root, where)}: {'.'.join(where)}: {err['msg']}"
            ) from None
    return validated


def _line_of(node: Any, loc: list[str]) -> int | None:
    """1-based line of the key of the deepest entry of `loc` present in the YAML tree."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if str(k.value) == key), None)
            if pair is None:
                break
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and key.isdigit() and int(key) < len(node.value):
            node = node.value[int(key)]
            line = node.start_mark.line + 1
        else:
            break
    return line
