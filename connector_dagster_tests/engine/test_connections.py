"""The connections file: the default loads; every mistake names file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector_dagster.engine import connections
from connector_dagster.lib.settings import ConfigError

GOOD = """\
connections:
  acme:
    timezone: America/Chicago
    mappings: maps.yaml
    ifs:
      base_url: https://acme.ifs.cloud/
      realm: acme1
      company: ACME01
    servicetitan:
      api_url: https://api.servicetitan.io
      auth_url: https://auth.servicetitan.io/connect/token
      tenant_id: 1234567
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "connections.yaml"
    path.write_text(text)
    return path


def test_default_file_has_the_sandbox_connection() -> None:
    conns = connections.load()
    sandbox = conns["sandbox"]
    assert sandbox.ifs.token_url.endswith("/auth/realms/acme1/protocol/openid-connect/token")
    assert sandbox.servicetitan.tenant_id.isdigit()
    assert Path(sandbox.mappings).is_file()


def test_good_file_loads_with_defaults(tmp_path: Path) -> None:
    conn = connections.load(write(tmp_path, GOOD))["acme"]
    assert conn.name == "acme"
    assert conn.ifs.base_url == "https://acme.ifs.cloud"
    assert conn.servicetitan.tenant_id == "1234567"
    assert conn.ifs.rate_per_min == 1000 and conn.servicetitan.rate_per_s == 60
    assert conn.mappings == str(tmp_path / "maps.yaml")


@pytest.mark.parametrize(
    ("old", "new", "line", "field"),
    [
        ("tenant_id: 1234567", "tenant_id: 123/../456", 12, "servicetitan.tenant_id"),
        ("timezone: America/Chicago", "timezone: Mars/Olympus", 3, "acme.timezone"),
        ("base_url: https://acme.ifs.cloud/", "base_url: acme", 6, "ifs.base_url"),
        ("realm: acme1", "realm: acme1\n      realms: x", 8, "ifs.realms"),
        ("      company: ACME01\n", "", 5, "ifs.company"),
    ],
)
def test_invalid_file_names_line_and_field(
    tmp_path: Path, old: str, new: str, line: int, field: str
) -> None:
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(ConfigError) as err:
        connections.load(path)
    message = str(err.value)
    assert f"{path}:{line}:" in message
    assert field in message


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("realm: acme1", "realm: [acme1"))
    with pytest.raises(ConfigError, match=r"connections.yaml:\d+: not valid YAML"):
        connections.load(path)


def test_bad_connection_name(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("  acme:", "  Acme-Prod:"))
    with pytest.raises(ConfigError, match=r":2: connection name 'Acme-Prod'"):
        connections.load(path)


def test_missing_file_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CONNECTOR_CONNECTIONS_FILE"):
        connections.load(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("base_url: https://acme.ifs.cloud/", "base_url: http://acme.ifs.cloud/", "ifs.base_url"),
        ("api_url: https://api.servicetitan.io", "api_url: http://api.servicetitan.io",
         "servicetitan.api_url"),
        ("auth_url: https://auth.servicetitan.io/connect/token",
         "auth_url: http://10.0.0.5/connect/token", "servicetitan.auth_url"),
    ],
)  # fmt: skip
def test_plain_http_is_refused_off_this_machine(
    tmp_path: Path, old: str, new: str, field: str
) -> None:
    with pytest.raises(ConfigError, match=rf"{field}: .*must use https"):
        connections.load(write(tmp_path, GOOD.replace(old, new)))


def test_plain_http_on_this_machine_is_allowed(tmp_path: Path) -> None:
    text = GOOD.replace("https://acme.ifs.cloud/", "http://127.0.0.1:8571").replace(
        "https://api.servicetitan.io", "http://localhost:8572"
    )
    conn = connections.load(write(tmp_path, text))["acme"]
    assert conn.ifs.base_url == "http://127.0.0.1:8571"


def test_a_flow_block_is_checked_by_the_flows_model_naming_file_and_line(tmp_path: Path) -> None:
    from connector_dagster.engine import registry

    models = {name: spec.settings for name, spec in registry.flows().items()}
    path = write(tmp_path, GOOD + "    flows:\n      purchase_orders: {states: [Lost]}\n")
    with pytest.raises(ConfigError, match=r"connections.yaml:\d+: .*flows.purchase_orders.states"):
        connections.load(path, flow_models=models)
    path = write(tmp_path, GOOD + "    flows:\n      purchase_order: {}\n")
    with pytest.raises(ConfigError, match="unknown flow 'purchase_order'; the flows are"):
        connections.load(path, flow_models=models)


def test_webhook_settings_default_and_load(tmp_path: Path) -> None:
    text = GOOD + "      webhooks: {signature_header: X-Sig, max_body_bytes: 4096}\n"
    hooks = connections.load(write(tmp_path, text))["acme"].servicetitan.webhooks
    default = connections.load(write(tmp_path, GOOD))["acme"].servicetitan.webhooks
    assert (hooks.signature_header, hooks.max_body_bytes) == ("X-Sig", 4096)
    assert (default.signature_header, default.enabled) == ("X-ST-Signature", True)
    assert "tn.acc.invoice-posted" in default.event_types


@pytest.mark.parametrize(
    ("block", "field", "message"),
    [
        ("{signature_header: 'X Sig'}", "webhooks.signature_header", "HTTP header name"),
        ("{max_body_bytes: 10}", "webhooks.max_body_bytes", "greater than or equal to 1024"),
        ("{event_types: [invoice-posted]}", "webhooks.event_types", "tn.acc.invoice-posted"),
        ("{event_types: []}", "webhooks.event_types", "at least one event type"),
        ("{secret: abc}", "webhooks.secret", "Extra inputs"),
    ],
)
def test_bad_webhook_settings_name_file_line_and_field(
    tmp_path: Path, block: str, field: str, message: str
) -> None:
    path = write(tmp_path, GOOD + f"      webhooks: {block}\n")
    with pytest.raises(ConfigError) as err:
        connections.load(path)
    assert f"{path}:13: connections.acme.servicetitan.{field}" in str(err.value)
    assert message in str(err.value)


def test_owners_are_emails_or_teams(tmp_path: Path) -> None:
    text = GOOD.replace("    mappings:", '    owners: [ap@acme.com, "team:finance"]\n    mappings:')
    assert connections.load(write(tmp_path, text))["acme"].owners == ("ap@acme.com", "team:finance")
    assert connections.load(write(tmp_path, GOOD))["acme"].owners == ()


@pytest.mark.parametrize("owner", ["finance", "team:", "ap@acme", "team:fin ance"])
def test_a_bad_owner_names_file_line_and_field(tmp_path: Path, owner: str) -> None:
    text = GOOD.replace("    mappings:", f'    owners: ["{owner}"]\n    mappings:')
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        connections.load(path)
    message = str(err.value)
    assert f"{path}:4: connections.acme.owners:" in message
    assert repr(owner) in message and "team:finance" in message
    assert "\n" not in message
