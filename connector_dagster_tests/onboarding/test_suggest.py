"""`connector-dagster mappings suggest` on the sandbox's master data: what it proposes
against what a person knows to be right (precision and recall per table), ambiguous
records never chosen, entries mapped already unchanged, and a review file that loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from connector_dagster.cli import main
from connector_dagster.engine import connections as conn_file
from connector_dagster.engine import flow, registry
from connector_dagster.engine.session import Session
from connector_dagster.lib import mapping
from connector_dagster.onboarding.suggest import normalised, suggest
from connector_dagster_tests.flows import support

RIGHT = {
    "vendors": {"V2001": 3201, "V2002": 3202, "V2003": 3203, "V2006": 3207, "V2008": 3209},
    "gl_accounts": {"6200": 620, "6300": 630, "6400": 640, "6500": 650, "4040": 404},
    "ifs_accounts": {"620": "6200", "630": "6300", "640": "6400", "650": "6500", "404": "4040"},
    "tax_codes": {},  # every region's is mapped; TX-X (0 %) has no zone, TX-OLD is invalid
}
"""What a person mapping the sandbox's tenants would enter, beyond the mapping file."""
AMBIGUOUS = {
    "vendors": {"V2004", "V2010"},  # two Valley Electric Supply; Hajoca is V1009's already
    "gl_accounts": {"6700"},  # same name, but ServiceTitan's number is 6710
    "ifs_accounts": {"670", "651"},  # 6710 'Utilities'; 'Rent' is 650's number already
    "tax_codes": set(),
}


def test_normalised_names() -> None:
    assert normalised("ACME Supply Co.") == normalised("Acme Supply Company, Inc.")
    assert normalised("Smith & Sons Plumbing LLC") == "smith and sons plumbing"
    assert normalised("Pacific  HVAC-Distributors, Inc") == "pacific hvac distributors"
    assert normalised("Würth Industrie") == "wurth industrie"
    assert normalised("Co.") == "co"


def test_suggestions_against_what_is_right(sandbox_connection: dict) -> None:
    with Session.open("sandbox") as session:
        found = suggest(session)
        mapped = session.mappings()
    assert set(found.tables) == set(RIGHT)
    assert {"sites", "parts", "po_types"} <= set(found.unread)
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
    print("precision, recall, proposed per table:", figures)


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
        reads = support.read_all("purchase_orders", session, support.period("2026-10-01"))
        report = flow.write(spec, session, "2026-10-01", reads).report
    assert [r for r, _ in report.failed.values() if r == "mapping_missing"] == []
    assert report.created
