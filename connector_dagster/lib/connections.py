"""The connections file: one or more connections, validated on load.

Each connection names its IFS host, realm and projection sets, its
ServiceTitan API and tenant, its books' timezone and close calendar. Secrets
are not here: they live in the vault. Errors name the file, line and field.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from connector_dagster.lib.settings import CONNECTIONS_FILE_VAR, PROJECT_ROOT, ConfigError

DEFAULT_FILE = PROJECT_ROOT / "connections.yaml"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IfsSets(_Model):
    purchase_orders: str = "PurchaseOrderHandling.svc/PurchaseOrderSet"
    # All PO lines (part and no-part) are only on the Entity Service API (/int/).
    purchase_order_lines: str = "entity/v1/PurchaseOrderLineEntity.svc/PurchaseOrderLineSet"
    posting_proposals: str = "PostingProposalHandling.svc/PostingProposalSet"
    posting_proposal_lines: str = "PostingProposalHandling.svc/PostingProposalLineSet"
    vouchers: str = "ExternalVoucherHandling.svc/ExternalVoucherSet"
    voucher_rows: str = "ExternalVoucherHandling.svc/ExternalVoucherRowSet"
    po_state_enum: str = "IfsApp.PurchaseOrderHandling.PurchaseOrderState"


class IfsConnection(_Model):
    base_url: str
    realm: str
    company: str
    sets: IfsSets = IfsSets()
    rate_per_min: float = Field(1000, gt=0)
    page_size: int = Field(500, gt=0, le=10000)
    timeout_s: float = Field(30, gt=0)
    token_margin_s: float = Field(30, ge=0)

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("must be an http(s) URL of the IFS host, like https://acme.ifs.cloud")
        return v.rstrip("/")

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/auth/realms/{self.realm}/protocol/openid-connect/token"


class ServiceTitanConnection(_Model):
    api_url: str
    auth_url: str
    tenant_id: str
    rate_per_s: float = Field(60, gt=0)
    page_size: int = Field(500, gt=0, le=5000)
    timeout_s: float = Field(100, gt=0)
    token_margin_s: float = Field(60, ge=0)

    @field_validator("api_url", "auth_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("must be an http(s) URL")
        return v.rstrip("/")

    @field_validator("tenant_id", mode="before")
    @classmethod
    def _tenant(cls, v: Any) -> str:
        text = str(v)
        if not text.isdigit() or not text.isascii():
            raise ValueError("must be the numeric ServiceTitan tenant id (digits only)")
        return text


class CloseCalendar(_Model):
    business_days: int = Field(5, ge=1, le=15)
    hour: int = Field(6, ge=0, le=23)
    holidays: list[str] = []


class Polling(_Model):
    cron: str = "*/30 6-20 * * 1-5"
    purchase_order_states: list[str] = [
        "Released",
        "Confirmed",
        "Arrived",
        "Received",
        "Closed",
        "Cancelled",
    ]


class Connection(_Model):
    name: str = ""
    timezone: str = "UTC"
    start_period: str = "2025-10-01"
    mappings: str
    ifs: IfsConnection
    servicetitan: ServiceTitanConnection
    close: CloseCalendar = CloseCalendar()
    polling: Polling = Polling()

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

    @field_validator("start_period")
    @classmethod
    def _period(cls, v: str) -> str:
        if not re.match(r"^\d{4}-\d{2}-01$", v):
            raise ValueError("must be the first day of a month, YYYY-MM-01")
        return v


class ConnectionsFile(_Model):
    connections: dict[str, Connection]
    default: str = "sandbox"


def connections_path() -> Path:
    return Path(os.environ.get(CONNECTIONS_FILE_VAR) or DEFAULT_FILE)


def load(path: Path | None = None) -> dict[str, Connection]:
    """Load and validate; raise ConfigError naming the file, line and field."""
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
        parsed = ConnectionsFile.model_validate(data)
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
        result[name] = conn.model_copy(update={"name": name, "mappings": str(mapping_path)})
    return result


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
