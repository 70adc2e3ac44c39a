"""`connector-dagster mappings`: load the versioned file, change one entry, list."""

from __future__ import annotations

import pytest

from connector_dagster.cli import main


def test_load_set_and_list(db_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mappings", "load"]) == 0
    assert "sandbox: mappings version sandbox-" in capsys.readouterr().out
    assert main(["mappings", "set", "sandbox", "vendors", "V7777", "3199"]) == 0
    assert "+edit1" in capsys.readouterr().out
    assert main(["mappings", "list", "sandbox", "--kind", "vendors"]) == 0
    out = capsys.readouterr().out
    assert "vendors\tV7777\t3199" in out and "vendors\tV1001\t3101" in out
    assert main(["mappings", "set", "sandbox", "vendors", "V7777", "null"]) == 0
    main(["mappings", "list", "sandbox", "--kind", "vendors"])
    out = capsys.readouterr().out
    assert "+edit2" in out and "\tV7777\t" not in out


def test_bad_kind_and_bad_target_are_named(db_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    main(["mappings", "load"])
    assert main(["mappings", "set", "sandbox", "vendorz", "V1", "1"]) == 2
    assert "unknown mapping kind 'vendorz'" in capsys.readouterr().err
    assert main(["mappings", "set", "sandbox", "vendors", "V1", "{oops"]) == 2
    assert "is not JSON" in capsys.readouterr().err


def test_set_refuses_an_entry_that_is_not_of_the_tables_type(
    db_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["mappings", "load"])
    capsys.readouterr()
    assert main(["mappings", "set", "sandbox", "vendors", "V1", '"abc"']) == 2
    assert "vendors['V1'] must be IFS VendorNo -> ServiceTitan vendor id" in (
        capsys.readouterr().err
    )
    assert main(["mappings", "set", "sandbox", "sites", "NORTH", '{"business_unit_id": 5}']) == 2
    assert "inventory_location_id" in capsys.readouterr().err
    assert main(["mappings", "set", "sandbox", "parts", "P-1", "55501"]) == 0
