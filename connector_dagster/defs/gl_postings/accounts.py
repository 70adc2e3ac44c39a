"""Before F2 maps a period: ServiceTitan GL accounts for IFS accounts that have no
mapping yet, created from IFS's chart of accounts when the connection allows it."""

from __future__ import annotations

from collections.abc import Sequence

from connector_dagster.defs.gl_postings.settings import GlPostingSettings
from connector_dagster.engine import registry
from connector_dagster.engine.records import Item
from connector_dagster.engine.session import Session
from connector_dagster.lib import mapping
from connector_dagster.lib.errors import ApiError
from connector_dagster.lib.mapping import Mappings
from connector_dagster.systems.ifs import odata


def create_missing_accounts(
    session: Session, settings: GlPostingSettings, items: Sequence[Item], maps: Mappings
) -> Mappings:
    """For each account the period's syncable proposals use that `gl_accounts` does not
    map: create it in ServiceTitan (number, name, type from IFS; an account with that
    number already there is taken as it is) and record the mapping. Without the
    connection's consent (`create_missing_accounts`), nothing: those rows are parked
    `mapping_missing` by the mapping."""
    if not settings.create_missing_accounts:
        return maps
    used = {
        str(row["Account"])
        for item in items
        if item.data["proposal"]["Objstate"] in settings.states
        for row in item.data["rows"]
        if row.get("Account")
    }
    missing = sorted(a for a in used if maps.entry("gl_accounts", a) == (None, None))
    if not missing:
        return maps
    chart = {
        str(row["Account"]): row
        for row in session.ifs.query(
            settings.accounts_set,
            filter=odata.and_(
                odata.eq("Company", session.connection.ifs.company),
                odata.any_of("Account", missing),
            ),
            select=["Company", "Account", "Description", "AccntType"],
            keys=("Company", "Account"),
        )
    }
    existing = {
        str(a.get("number")): a["id"]
        for a in session.servicetitan.iter_pages("accounting", "gl-accounts", {"active": "Any"})
    }
    for number in missing:
        account = chart.get(number)
        st_type = settings.account_types.get(str(account.get("AccntType"))) if account else None
        if account is None or st_type is None:
            continue  # not in IFS's chart, or a type with no ServiceTitan counterpart
        account_id = existing.get(number)
        if account_id is None:
            try:
                created = session.servicetitan.create(
                    "accounting",
                    "gl-accounts",
                    {"number": number, "name": account["Description"] or number, "type": st_type},
                )
                account_id = created["id"]
            except ApiError as exc:
                if exc.status != 409:
                    raise
                continue  # taken meanwhile: the next run maps it
        mapping.set_entry(
            session.store, session.name, "gl_accounts", number, account_id, registry.tables()
        )
    return session.mappings()
