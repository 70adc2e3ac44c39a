"""IFS Cloud: OData projections read and written with OAuth2 client credentials
(`client.py`), `$batch` change sets (`batch.py`), history logs (`history.py`), GL
posting documents (`postings.py`) and OData helpers (`odata.py`). IFS sends no
webhooks: it is polled."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from connector_dagster.systems import ClientContext, System, client_settings
from connector_dagster.systems.ifs.client import IfsClient, IfsSettings
from connector_dagster.systems.ifs.settings import IfsConnection


def _client(block: IfsConnection, secrets: Mapping[str, str], context: ClientContext) -> IfsClient:
    return IfsClient(client_settings(IfsSettings, block, secrets, context))


SYSTEM = System(
    name="ifs",
    title="IFS",
    settings=IfsConnection,
    secrets=("client_id", "client_secret"),
    client=_client,
    shared_by=lambda block: urlsplit(block.base_url).netloc,
)
