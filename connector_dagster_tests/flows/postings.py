"""What the F3 and F4 tests share: a flow materialized through Dagster, the IFS posting
sets read back through IFS's API and compared with the ServiceTitan documents read
through ServiceTitan's, per account and cost centre, and a period's reconciliation."""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

import httpx

from connector_dagster.engine.session import Session
from connector_dagster.lib.store import FailedRecord, Store
from connector_dagster.systems.ifs import odata
from connector_dagster_tests.flows import support

HEADERS = "ExternalVoucherHandling.svc/ExternalVoucherSet"
ROWS = "ExternalVoucherHandling.svc/ExternalVoucherRowSet"


defs = support.defs
materialize = support.materialize


def failed(flow: str) -> dict[str, FailedRecord]:
    store = Store(os.environ["CONNECTOR_DATABASE_URL"])
    try:
        return {f.source_key: f for f in store.failed(connection="sandbox", flow=flow)}
    finally:
        store.close()


def ledger(flow: str, period: str) -> dict[str, Any]:
    store = Store(os.environ["CONNECTOR_DATABASE_URL"])
    try:
        return store.ledger_for_partition("sandbox", flow, period)
    finally:
        store.close()


def postings(prefix: str) -> dict[str, list[dict[str, Any]]]:
    """IFS posting sets whose reference starts with `prefix`, by reference, each with its
    rows, read through IFS's API."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with Session.open("sandbox") as session:
        ifs = session.ifs
        heads = list(
            ifs.query(
                HEADERS,
                filter=odata.startswith("Reference", prefix),
                keys=("Company", "LoadId"),
            )
        )
        rows: dict[tuple, list[dict]] = defaultdict(list)
        for row in ifs.query(ROWS, keys=("Company", "LoadId", "RowNo")):
            rows[(row["Company"], row["LoadId"])].append(dict(row))
        for head in heads:
            found[head["Reference"]].append(
                {**head, "rows": rows.get((head["Company"], head["LoadId"]), [])}
            )
    return found


def mappings() -> dict[str, dict[str, Any]]:
    with Session.open("sandbox") as session:
        maps = session.mappings()
    return {k: maps.table(k) for k in ("ifs_accounts", "business_units", "ifs_tax_codes")}


def totals_ifs(posting: dict[str, Any]) -> Counter:
    """Net debit per (IFS account, cost centre) of a posting set."""
    sums: Counter = Counter()
    for row in posting["rows"]:
        net = Decimal(str(row.get("DebetAmount") or 0)) - Decimal(str(row.get("CreditAmount") or 0))
        sums[(row["Account"], row["CodeB"])] += net
    return Counter({k: v for k, v in sums.items() if v})


def balanced(posting: dict[str, Any]) -> bool:
    debit = sum(Decimal(str(r.get("CurrencyDebetAmount") or 0)) for r in posting["rows"])
    credit = sum(Decimal(str(r.get("CurrencyCreditAmount") or 0)) for r in posting["rows"])
    return debit == credit and debit > 0


def requests(base: str) -> Counter:
    """(method, route) -> count of the simulator's API requests since the last clear (a
    401 answered by fetching a new token, and the token requests, left out)."""
    counts: Counter = Counter()
    for r in httpx.get(f"{base}/_sandbox/requests", timeout=10).json():
        if "token" not in r["route"] and r["status"] != 401:
            counts[(r["method"], r["route"])] += r["count"]
    return counts


def writes(base: str) -> Counter:
    return Counter({k: n for k, n in requests(base).items() if k[0] != "GET"})


def clear(base: str) -> None:
    httpx.delete(f"{base}/_sandbox/requests", timeout=10).raise_for_status()


def set_connection(**ifs: Any) -> None:
    """Settings under `ifs:` of the sandbox connection in the test's connections file."""
    from pathlib import Path

    path = Path(os.environ["CONNECTOR_CONNECTIONS_FILE"])
    text = path.read_text()
    extra = ", ".join(f"{k}: {json.dumps(v)}" for k, v in ifs.items())
    path.write_text(text.replace("company: ACME01}", f"company: ACME01, {extra}}}"))


def only(flow: str) -> None:
    """The sandbox connection of the test's connections file runs `flow` alone, so a
    period's reconciliation counts that flow only."""
    from pathlib import Path

    path = Path(os.environ["CONNECTOR_CONNECTIONS_FILE"])
    lines = path.read_text().splitlines(keepends=True)
    start = lines.index("    flows:\n") + 1
    end = next(n for n in range(start, len(lines)) if not lines[n].startswith("      "))
    path.write_text("".join([*lines[:start], f"      {flow}: {{}}\n", *lines[end:]]))


def ifs_figures(prefixes: tuple[str, ...], period: str) -> dict[tuple[str, ...], Decimal]:
    """Debits and credits per (company, account, cost centre) of the sandbox connection's
    posting sets dated in the period, as IFS's API returns them."""
    sums: dict[tuple[str, ...], Decimal] = defaultdict(Decimal)
    for prefix in prefixes:
        for found in postings(prefix).values():
            for posting in found:
                ours = str(posting["Text"]).endswith("[connector:sandbox]")
                if posting["VoucherDate"][:7] != period[:7] or not ours:
                    continue
                for row in posting["rows"]:
                    where = (f"company {posting['Company']}", f"account {row['Account']}",
                             f"CodeB {row['CodeB']}")  # fmt: skip
                    for measure, field in (("debit", "DebetAmount"), ("credit", "CreditAmount")):
                        if row.get(field):
                            sums[(*where, measure)] += Decimal(str(row[field]))
    return dict(sums)


def plant_difference(
    ifs: str,
    edited: dict[str, Any],
    row: dict[str, Any],
    column: str,
    amount: Decimal,
    gone: dict[str, Any],
) -> None:
    """As a person would in IFS, through its simulator: `column` (and its currency twin)
    of one row of posting set `edited` set to `amount`, and posting set `gone` deleted."""
    key = {"Company": "ACME01", "LoadId": edited["LoadId"], "RowNo": row["RowNo"]}
    changes = {column: str(amount), f"Currency{column}": str(amount)}
    httpx.post(f"{ifs}/_sandbox/edit", json={"set": "ExternalVoucherRowSet", "key": key,
               "changes": changes}, timeout=10).raise_for_status()  # fmt: skip
    httpx.post(
        f"{ifs}/_sandbox/delete",
        json={"set": "ExternalVoucherSet", "key": {"Company": "ACME01", "LoadId": gone["LoadId"]}},
        timeout=10,
    ).raise_for_status()


def reconcile_json(capsys: Any, period: str) -> tuple[int, dict[str, Any]]:
    """`connector-dagster reconcile --format json` of the sandbox connection's period:
    its exit code and its report."""
    from connector_dagster.cli import main

    capsys.readouterr()
    args = ["reconcile", "--connection", "sandbox", "--period", period[:7], "--format", "json"]
    code = main(args)
    return code, json.loads(capsys.readouterr().out)
