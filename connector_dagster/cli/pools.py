"""`connector-dagster pools`: explicit concurrency limits of every connection's API pools
in the Dagster instance."""

from __future__ import annotations

import argparse
import os
import re

from connector_dagster.cli.args import (
    int_between,
)
from connector_dagster.cli.common import command
from connector_dagster.lib import db
from connector_dagster.lib.settings import (
    DAGSTER_PG_URL_VAR,
    ConfigError,
    dagster_home,
    require,
)

DEFAULT_LIMIT = 3
MAX_LIMIT = 100


def set_pool_limits(limit: int = DEFAULT_LIMIT) -> list[str]:
    """Give every connection's API pools an explicit limit in the Dagster instance.

    Explicit limits, rather than `pools.default_limit`, because Dagster 1.13 on
    PostgreSQL fails a run when it initialises a default-limited pool that
    another run created meanwhile, or whose default changed."""
    import dagster as dg

    from connector_dagster.engine import registry

    if not 1 <= limit <= MAX_LIMIT:
        raise ConfigError(f"a pool limit is 1..{MAX_LIMIT} steps at once, not {limit}")
    require("DAGSTER_HOME", "the folder of the Dagster instance (its dagster.yaml)")
    if not dagster_home().is_dir():
        raise ConfigError(f"DAGSTER_HOME {dagster_home()} is not a folder")
    storage_url = os.environ.get(DAGSTER_PG_URL_VAR)
    if storage_url:  # fail in one line, before Dagster retries and prints its traceback
        db.connect(db.validate_url(storage_url, DAGSTER_PG_URL_VAR)).close()
    pools = sorted(
        {c.pool(system) for c in registry.load_connections().values() for system in c.systems}
    )
    try:
        with dg.DagsterInstance.get() as instance:
            for pool in pools:
                instance.event_log_storage.set_concurrency_slots(pool, limit)
    except dg.DagsterInvalidConfigError as exc:
        unset = re.search(r'environment variable "(\w+)" which is not set', str(exc))
        if unset:
            require(unset[1], "a setting of the instance's dagster.yaml")
        raise ConfigError(
            f"{dagster_home() / 'dagster.yaml'}: {str(exc).strip().splitlines()[0]}"
        ) from None
    return pools


def cmd_pools(args: argparse.Namespace) -> int:
    for pool in set_pool_limits(args.limit):
        print(f"pool {pool}: limit {args.limit}")
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub, "pools", "set the concurrency limit of every connection's API pools", cmd_pools
    )
    p.add_argument(
        "--limit",
        type=int_between(1, MAX_LIMIT),
        default=DEFAULT_LIMIT,
        help=f"steps that may call one API at once, 1..{MAX_LIMIT} (they share its rate "
        f"limit); default {DEFAULT_LIMIT}",
    )
