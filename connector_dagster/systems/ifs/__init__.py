"""IFS Cloud: OData projections read and written with OAuth2 client credentials
(`client.py`), `$batch` change sets (`batch.py`), history logs (`history.py`), GL
posting documents (`postings.py`) and OData helpers (`odata.py`). IFS sends no
webhooks: it is polled."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from connector_dagster.systems import ClientContext, System
from connector_dagster.systems.ifs.client import IfsClient, IfsSettings
from connector_dagster.systems.ifs.settings import IfsConnection


def _client(block: IfsConnection, secrets: Mapping[str, str], context: ClientContext) -> IfsClient:
    return IfsClient(
        IfsSettings(
            base_url=block.base_url,
            realm=block.realm,
            client_id=secrets["client_id"],
            client_secret=secrets["client_secret"],
            name=context.connection,
            page_size=block.page_size,
            rate_per_min=block.rate_per_min,
            timeout_s=block.timeout_s,
            connect_timeout_s=block.connect_timeout_s,
            token_margin_s=block.token_margin_s,
            database_url=context.database_url,
        )
    )


SYSTEM = System(
    name="ifs",
    title="IFS",
    settings=IfsConnection,
    secrets=("client_id", "client_secret"),
    client=_client,
    shared_by=lambda block: urlsplit(block.base_url).netloc,
)
