"""ServiceTitan: REST v2 on a tenant's paths with OAuth2 client credentials and
`ST-App-Key` (`client.py`). It sends webhooks, which the receiver
(`connector_dagster/webhooks/`) takes with the settings of `servicetitan.webhooks`
and the signing key in the vault."""

from __future__ import annotations

from collections.abc import Mapping

from connector_dagster.systems import ClientContext, System, client_settings
from connector_dagster.systems.servicetitan.client import ServiceTitanClient, ServiceTitanSettings
from connector_dagster.systems.servicetitan.settings import ServiceTitanConnection, WebhookSettings


def _client(
    block: ServiceTitanConnection, secrets: Mapping[str, str], context: ClientContext
) -> ServiceTitanClient:
    return ServiceTitanClient(client_settings(ServiceTitanSettings, block, secrets, context))


def _webhooks(block: ServiceTitanConnection) -> WebhookSettings:
    return block.webhooks


SYSTEM = System(
    name="servicetitan",
    title="ServiceTitan",
    settings=ServiceTitanConnection,
    secrets=("client_id", "client_secret", "app_key"),
    optional_secrets=("webhook_key", "webhook_key_previous"),
    client=_client,
    shared_by=lambda block: block.tenant_id,
    webhooks=_webhooks,
)
