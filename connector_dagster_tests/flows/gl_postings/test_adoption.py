"""F2 adopts an in-doubt ServiceTitan journal entry only when it is what the connector
sent: its name exactly the marked name, made after the intent, the post date and
lines of the proposal. A person's entry with a copy of the name is left as it is
and the record parked as a `conflict` naming it. Real HTTP against the sandbox, a real
PostgreSQL, a run killed in a child process."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from connector_dagster.engine.session import Session
from connector_dagster_tests.flows import support
from connector_dagster_tests.flows.gl_postings.test_flow import PERIOD, failed, st_entries

CRASH_SCRIPT = """
import json, os, sys
from connector_dagster.defs.gl_postings.target import ServiceTitanJournalEntries, marked_name
from connector_dagster_tests.flows.support import sync_first

class Crashing(ServiceTitanJournalEntries):
    def create(self, record):
        sent = {**record.payload, "name": marked_name(record.payload["name"], "sandbox")}
        print(json.dumps({"key": record.key, "sent": sent}, default=str), flush=True)
        if os.environ.get("CRASH_AFTER_CREATE"):
            print(json.dumps({"target_id": super().create(record)}), flush=True)
        os._exit(9)  # killed before (or after) the create reached ServiceTitan

sync_first("gl_postings", sys.argv[1], Crashing)
"""


def crash(after_create: bool) -> dict[str, Any]:
    """A run of the period that intends one proposal and dies before (or right after)
    its entry reached ServiceTitan: the proposal's key, what was sent, the entry's id."""
    proc = support.crash(CRASH_SCRIPT, PERIOD, CRASH_AFTER_CREATE="1" if after_create else "")
    said: dict[str, Any] = {}
    for line in proc.stdout.splitlines():
        said.update(json.loads(line))
    return said


def entry(entry_id: str) -> dict[str, Any]:
    """A journal entry and its lines as ServiceTitan's API returns them."""
    with Session.open("sandbox") as session:
        st = session.servicetitan
        found = st.get("accounting", f"journal-entries/{entry_id}")
        details = list(st.iter_pages("accounting", f"journal-entries/{entry_id}/details", {}))
    return {**found, "details": details}


@pytest.mark.parametrize("name", ["exact", "inside"])
def test_a_persons_entry_with_a_copy_of_the_name_is_untouched_and_a_conflict(
    sandbox_connection: dict, name: str
) -> None:
    """A run intends a proposal and dies before its entry is made; a person then keys an
    entry whose name holds a copy of the marked name (exactly, or with words around it)
    with the amounts swapped. The re-run changes nothing in it, makes no second entry,
    and parks the proposal as a conflict naming the entry."""
    said = crash(after_create=False)
    key, sent = said["key"], dict(said["sent"])
    if name == "inside":
        sent["name"] = f"Copy of {sent['name']} (by hand)"
    swapped = [(Decimal(ln["credit"]), Decimal(ln["debit"])) for ln in sent["lines"]]
    sent["lines"] = [
        {**ln, "debit": debit, "credit": credit}
        for ln, (debit, credit) in zip(sent["lines"], swapped, strict=True)
    ]
    with Session.open("sandbox") as session:
        session.servicetitan.create("accounting", "journal-entries", sent)
    [hand] = st_entries()[key]
    before = entry(str(hand["id"]))
    counts = support.write_in_process("gl_postings", PERIOD)
    assert counts["adopted"] == 0, counts
    assert entry(str(hand["id"])) == before
    assert [e["id"] for e in st_entries()[key]] == [hand["id"]]
    parked = failed()
    assert parked[key].reason == "conflict"
    assert repr(key) in parked[key].message and str(hand["id"]) in parked[key].message


def test_the_connectors_own_entry_is_adopted_after_a_crash_right_after_its_create(
    sandbox_connection: dict,
) -> None:
    """A run dies right after ServiceTitan made its entry: the re-run adopts it (exact
    name, made after the intent, the lines sent) and makes no second one."""
    said = crash(after_create=True)
    counts = support.write_in_process("gl_postings", PERIOD)
    messages = [f.message for f in failed().values()]
    assert counts["adopted"] == 1 and counts["failed"] == 0, (counts, messages)
    assert [str(e["id"]) for e in st_entries()[said["key"]]] == [said["target_id"]]
