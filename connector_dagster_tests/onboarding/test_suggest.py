"""`connector-dagster mappings suggest` on the sandbox's master data: what it proposes
against what a person knows to be right (precision and recall per table), ambiguous
records never chosen, entries mapped already unchanged, and a review file that loads."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import httpx
import pytest
import yaml

from connector_dagster.cli import main
from connector_dagster.engine import connections as conn_file
from connector_dagster.engine import flow, registry
from connector_dagster.engine.records import Period
from connector_dagster.engine.session import Session
from connector_dagster.lib import mapping
from connector_dagster.onboarding.master import LISTS, FileMaster, LiveMaster
from connector_dagster.onboarding.suggest import needed_tables, normalised, suggest, suggest_from
from connector_dagster_tests.flows import support


def _ship_to(description: str, street: str, city: str, zip_code: str) -> dict:
    return {"description": description, "street": street, "unit": "", "city": city,
            "state": "CA", "zip": zip_code, "country": "USA"}  # fmt: skip


RIGHT = {
    "vendors": {"V2001": 3201, "V2002": 3202, "V2003": 3203, "V2006": 3207, "V2008": 3209},
    "gl_accounts": {"6200": 620, "6300": 630, "6400": 640, "6500": 650, "4040": 404},
    "ifs_accounts": {"620": "6200", "630": "6300", "640": "6400", "650": "6500", "404": "4040"},
    # every region's is mapped; TX-X (0 %) has no zone, TX-OLD is invalid
    "tax_codes": {"TX-OX": {"tax_zone_id": 19, "rate": "0.0875"}},
    "ifs_tax_codes": {"19": {"tax_code": "TX-OX", "account": "2200"}},
    "sites": {
        "OXNRD": {
            "business_unit_id": 506,
            "inventory_location_id": 82,
            "ship_to": _ship_to("Oxnard warehouse", "12 Port Road", "Oxnard", "93030"),
        },
        # 'Fresno Depot' / 'Central Valley warehouse': by address, "Ave" as "Avenue"
        "FRSNO": {
            "business_unit_id": 511,
            "inventory_location_id": 86,
            "ship_to": _ship_to("Central Valley warehouse", "77 Olive Avenue", "Fresno", "93701"),
        },
    },
    # by SKU code (P-20001, P-20004 named otherwise, P-20050), by name (P-20002)
    "parts": {"P-20001": 55601, "P-20002": 55602, "P-20004": 55605, "P-20050": 55606},
    "cost_centres": {"CC600": 506, "CC700": 507},  # by accounting code, by name
    "business_units": {
        "506": {"company": "ACME01", "cost_centre": "CC600"},
        "507": {"company": "ACME01", "cost_centre": "CC700"},
    },
    "po_types": {},  # `default` is mapped
}
"""What a person mapping the sandbox's tenants would enter, beyond the mapping file."""
AMBIGUOUS = {
    "vendors": {"V2004", "V2010"},  # two Valley Electric Supply; Hajoca is V1009's already
    "gl_accounts": {"6700"},  # same name, but ServiceTitan's number is 6710
    "ifs_accounts": {"670", "651"},  # 6710 'Utilities'; 'Rent' is 650's number already
    "tax_codes": set(),
    "ifs_tax_codes": set(),
    "sites": {"SDIEG"},  # two San Diego warehouses
    # two Teflon tapes; 'Mixing Valve' has P-20050's code
    "parts": {"P-20003", "P-20005"},
    "cost_centres": {"CC800"},  # 'Residential' and 'RESIDENTIAL'
    "business_units": {"508", "510"},  # both 'Residential'
    "po_types": set(),
}


def test_normalised_names() -> None:
    assert normalised("ACME Supply Co.") == normalised("Acme Supply Company, Inc.")
    assert normalised("Smith & Sons Plumbing LLC") == "smith and sons plumbing"
    assert normalised("Pacific  HVAC-Distributors, Inc") == "pacific hvac distributors"
    assert normalised("Würth Industrie") == "wurth industrie"
    assert normalised("Co.") == "co"


def test_suggestions_against_what_is_right(
    sandbox_connection: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    with Session.open("sandbox") as session:
        found = suggest(session)
        mapped = session.mappings()
    assert set(found.tables) == set(RIGHT) == {t.kind for t in registry.tables()}
    assert found.unread == {}
    figures = {}
    for table, right in RIGHT.items():
        proposed = found.tables[table].proposed()
        assert not set(proposed) & set(mapped.table(table)), "mapped entries are never proposed"
        correct = sum(right.get(code) == value for code, value in proposed.items())
        precision = correct / len(proposed) if proposed else 1.0
        recall = correct / len(right) if right else 1.0
        figures[table] = (round(precision, 3), round(recall, 3), len(proposed))
        ambiguous = {s.source.code for s in found.tables[table].suggestions if s.ambiguous}
        assert ambiguous == AMBIGUOUS[table], table
        assert not set(proposed) & AMBIGUOUS[table], "an ambiguous record is never chosen"
        assert precision >= 0.98 and recall >= 0.9, (table, precision, recall)
    with capsys.disabled():
        print("\nprecision, recall, proposed per table:", figures)


def test_the_review_file_keeps_every_entry_and_loads_as_a_new_version(
    sandbox_connection: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "review.yaml"
    assert main(["mappings", "suggest", "--connection", "sandbox", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "vendors: 5 proposed, 2 ambiguous" in said and str(out) in said
    text = out.read_text()
    assert (
        "  # suggested: IFS supplier V2001 'ACME Supply Co.' -> ServiceTitan vendor 3201 "
        "'Acme Supply Company, Inc.': names equal once normalised ('acme supply'); "
        'confidence 0.90\n  "V2001": 3201\n' in text
    )
    assert "  # ambiguous, not chosen: IFS supplier V2004 'Valley Electric Supply'" in text
    assert "  # no match: IFS supplier V2007 'Bay Area Pipe' (inactive)" in text
    assert "  # suggested: IFS account 6200 'Fuel' -> ServiceTitan GL account 620 no. 6200" in text

    path = Path(registry.connection("sandbox").mappings)
    original = mapping.load_file(path, registry.tables())
    review = mapping.load_file(out, registry.tables())
    for kind, entries in yaml.safe_load(path.read_text()).items():
        if kind != "version":
            for code in entries or {}:
                assert review.table(kind)[str(code)] == original.table(kind)[str(code)]
    with Session.open("sandbox") as session:
        version = mapping.ensure_loaded(session.store, "sandbox", out, registry.tables())
        loaded = mapping.load(session.store, "sandbox", registry.tables())
    assert version.endswith("+suggested")
    assert loaded.table("vendors")["V2001"] == 3201 and loaded.table("vendors")["V1001"] == 3101
    assert loaded.table("ifs_accounts")["620"] == "6200"
    assert loaded.table("sites")["NORTH"]["business_unit_id"] == 501


def test_accepting_the_review_file_leaves_nothing_of_the_period_parked_for_mappings(
    sandbox_connection: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A contractor starting with none of the tables `suggest` fills: its suggestions
    for the mapped world are right, and once accepted no record of the period waits
    for an entry of those tables, in any flow."""
    path = Path(registry.connection("sandbox").mappings)
    start = yaml.safe_load(path.read_text())
    right = {k: {str(c): t for c, t in start[k].items()} | RIGHT[k] for k in RIGHT}
    for kind in RIGHT:
        start[kind] = {}
    start["version"] = "onboarding-start"
    blank = tmp_path / "start.yaml"
    blank.write_text(yaml.safe_dump(start))
    file = conn_file.connections_path()
    file.write_text(file.read_text().replace(str(path), str(blank)))

    def waiting() -> dict[str, list[str]]:
        assert main(["mappings", "coverage", "--connection", "sandbox", "--period", "2026-10",
                     "--format", "json"]) == 0  # fmt: skip
        return {
            f["flow"]: [g for g in f["groups"] if g.split()[0] in RIGHT]
            for f in json.loads(capsys.readouterr().out)
        }

    before = waiting()
    assert before["purchase_orders"] and before["gl_postings"] and before["invoices"]

    review = tmp_path / "review.yaml"
    assert main(["mappings", "suggest", "--connection", "sandbox", "--out", str(review)]) == 0
    capsys.readouterr()
    accepted = mapping.load_file(review, registry.tables())
    figures = {}
    for kind, wanted in right.items():
        proposed = accepted.table(kind)
        correct = sum(wanted.get(code) == value for code, value in proposed.items())
        figures[kind] = (round(correct / len(proposed), 3), round(correct / len(wanted), 3),
                         len(proposed), len(wanted))  # fmt: skip
        assert correct == len(proposed) and correct >= 0.9 * len(wanted), kind
    with capsys.disabled():
        print("from none mapped: precision, recall, proposed, right per table:", figures)

    file.write_text(file.read_text().replace(str(blank), str(review)))
    assert waiting() == {name: [] for name in before}
    with Session.open("sandbox") as session:
        spec = registry.flow("purchase_orders")
        reads = support.read_all("purchase_orders", session, Period.parse("2026-10-01"))
        report = flow.write(spec, session, "2026-10-01", reads).report
    assert [r for r, _ in report.failed.values() if r == "mapping_missing"] == []
    assert report.created


def _write(folder: Path, name: str, rows: list[dict]) -> None:
    """One master list as the contractor's export: CSV for the IFS lists, JSON for
    ServiceTitan's."""
    if name.startswith("ifs_"):
        columns = list(dict.fromkeys(k for r in rows for k in r))
        with (folder / f"{name}.csv").open("w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, columns)
            writer.writeheader()
            writer.writerows({k: "" if v is None else v for k, v in r.items()} for r in rows)
    else:
        (folder / f"{name}.json").write_text(json.dumps(rows, default=str), encoding="utf-8")


def test_an_export_of_the_sandbox_master_data_gives_the_same_suggestions_offline(
    sandbox_connection: dict, tmp_path: Path
) -> None:
    with Session.open("sandbox") as session:
        live = LiveMaster(session)
        for name in LISTS:
            _write(tmp_path, name, live.rows(name))
        maps = session.mappings()
        online = suggest_from(live, maps, needed_tables(session.connection.flows))
    offline = suggest_from(FileMaster(tmp_path, "ACME01"), maps, needed_tables(None))

    assert offline.unread == {} and set(offline.tables) == set(online.tables)
    for table, found in online.tables.items():
        assert offline.tables[table].proposed() == found.proposed() == RIGHT[table], table
        ambiguous = {s.source.code for s in offline.tables[table].suggestions if s.ambiguous}
        assert ambiguous == AMBIGUOUS[table], table


def test_master_data_files_alone_suggest_without_a_connection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A contractor's own lists, before any credentials: CSV and JSON files, no
    connection, no database; entries of the given mapping file stay as they are."""
    folder = tmp_path / "lists"
    folder.mkdir()
    (folder / "ifs_suppliers.csv").write_text(
        "code,name,active\n"
        "V1,ACME Supply Co.,true\n"
        'V2,"Smith & Sons Plumbing, LLC",\n'
        "V3,Old Pipe Co,false\n"
        "V4,Delta Valves,yes\n",
        encoding="utf-8",
    )
    (folder / "st_vendors.json").write_text(json.dumps([
        {"id": 11, "name": "Acme Supply Company, Inc."},
        {"id": 12, "name": "Smith and Sons Plumbing", "active": "yes"},
        {"id": 13, "name": "Old Pipe"},
        {"id": 14, "name": "Delta Valves"},
    ]), encoding="utf-8")  # fmt: skip
    (folder / "ifs_sites.csv").write_text(
        "code,name,street,city,state,zip\nMAIN,Main DC,1 Elm Street,Reno,NV,89501-1234\n",
        encoding="utf-8",
    )
    (folder / "st_inventory_locations.csv").write_text(
        "id,name,active,street,unit,city,state,zip,country\n"
        "7,Reno yard,true,1 Elm St,,Reno,NV,89501,USA\n",
        encoding="utf-8",
    )
    (folder / "st_business_units.json").write_text(json.dumps([
        {"id": 301, "name": "Reno HVAC", "account_code": "CC1", "street": "1 Elm St.",
         "city": "Reno", "state": "NV", "zip": "89501"},
    ]), encoding="utf-8")  # fmt: skip
    (folder / "ifs_cost_centres.csv").write_text(
        "code,name,company,active\nCC1,Reno,ACME9,true\n", encoding="utf-8"
    )
    given = tmp_path / "start.yaml"
    given.write_text('version: "contractor-1"\nvendors:\n  "V4": 99\n', encoding="utf-8")
    out = tmp_path / "review.yaml"

    argv = ["mappings", "suggest", "--master-data", str(folder), "--mappings", str(given)]
    assert main([*argv, "--out", str(out)]) == 0

    said = capsys.readouterr().out
    assert said.startswith(f"master data in {folder}: ") and str(out) in said
    assert "vendors: 2 proposed, 0 ambiguous, 1 unmatched" in said
    assert "gl_accounts: no master data (ifs_accounts, st_gl_accounts)" in said
    review = mapping.load_file(out, registry.tables())
    assert review.version == "contractor-1+suggested"
    assert review.table("vendors") == {"V4": 99, "V1": 11, "V2": 12}
    assert review.table("sites") == {"MAIN": {
        "business_unit_id": 301, "inventory_location_id": 7,
        "ship_to": {"description": "Reno yard", "street": "1 Elm St", "unit": "", "city": "Reno",
                    "state": "NV", "zip": "89501", "country": "USA"},
    }}  # fmt: skip
    assert review.table("cost_centres") == {"CC1": 301}
    assert review.table("business_units") == {"301": {"company": "ACME9", "cost_centre": "CC1"}}
    text = out.read_text()
    assert "  # no match: IFS supplier V3 'Old Pipe Co' (inactive): inactive, not proposed" in text
    assert "the same address ('1 elm st reno nv 89501')" in text

    (folder / "st_vendors.csv").write_text("id,name\nabc,Broken\n", encoding="utf-8")
    assert main(argv) == 2
    assert "keep one" in capsys.readouterr().err
    (folder / "st_vendors.json").unlink()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"connector-dagster: {folder / 'st_vendors.csv'} row 1 ('abc'): id 'abc' is not a "
        "positive whole number"
    )


def test_ifs_accounts_are_read_where_f2s_accounts_set_says(
    sandbox_connection: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    """An IFS whose chart of accounts is another entity set: suggest says so in one
    line; once F2's `accounts_set` names it, suggest reads the accounts there (and
    proposes the same entries)."""
    ifs = sandbox_connection["ifs"]["base_url"]
    renames = {"AccountsHandling.svc/AccountSet": "LedgerAccountSet"}
    httpx.put(f"{ifs}/_sandbox/behaviour", json={"renames": renames}).raise_for_status()
    try:
        assert main(["mappings", "suggest", "--connection", "sandbox"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("connector-dagster: connection sandbox, ifs_accounts: 404, ")
        assert err.rstrip().endswith("names the setting or permission to fix")
        assert err.count("\n") == 1
        file = conn_file.connections_path()
        file.write_text(file.read_text().replace(
            "gl_postings: {}", "gl_postings: {accounts_set: AccountsHandling.svc/LedgerAccountSet}"
        ))  # fmt: skip
        with Session.open("sandbox") as session:
            found = suggest(session)
    finally:
        httpx.put(f"{ifs}/_sandbox/behaviour", json={"renames": {}}).raise_for_status()

    assert found.tables["gl_accounts"].proposed() == RIGHT["gl_accounts"]
    assert found.tables["ifs_accounts"].proposed() == RIGHT["ifs_accounts"]
