"""`connector-dagster mappings`: load the versioned file, change one entry, list; a file
changed under a version already loaded is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector_dagster.cli import main
from connector_dagster.lib import mapping
from connector_dagster.lib.settings import PROJECT_ROOT, ConfigError
from connector_dagster.lib.store import Store


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


def test_a_file_changed_without_a_new_version_is_refused_until_the_version_is_bumped(
    store: Store, tmp_path: Path
) -> None:
    """A file whose content changed under a version already loaded would otherwise be
    skipped in silence, and the old entries used: it is refused, naming the fix."""
    from connector_dagster.engine import registry

    source = PROJECT_ROOT / "connector_dagster/mappings/sandbox.yaml"
    path = tmp_path / "sandbox.yaml"
    path.write_text(source.read_text())
    version = mapping.ensure_loaded(store, "sandbox", path, registry.tables())
    path.write_text(source.read_text().replace('"V1001": 3101', '"V1001": 3199'))
    with pytest.raises(ConfigError, match="bump `version` in the file"):
        mapping.ensure_loaded(store, "sandbox", path, registry.tables())
    assert mapping.load(store, "sandbox").table("vendors")["V1001"] == 3101
    path.write_text(path.read_text().replace(version, f"{version}-next"))
    assert mapping.ensure_loaded(store, "sandbox", path, registry.tables()) == f"{version}-next"
    assert mapping.load(store, "sandbox").table("vendors")["V1001"] == 3199
