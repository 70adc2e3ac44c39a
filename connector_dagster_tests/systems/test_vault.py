"""The credential vault: encryption at rest, rotation, masking, bad keys."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet

from connector_dagster.cli import main
from connector_dagster.lib.settings import ConfigError
from connector_dagster.lib.store import Store
from connector_dagster.systems.vault import Vault, VaultError, load_keys

SECRET = "ifs-Very-Secret-Value-42"


def test_round_trip(store: Store, master_key: str) -> None:
    vault = Vault(store)
    vault.set("sandbox", "ifs", "client_secret", SECRET)
    vault.set("sandbox", "ifs", "client_id", "CONNECTOR_SVC")
    assert vault.get("sandbox", "ifs") == {"client_secret": SECRET, "client_id": "CONNECTOR_SVC"}


def test_rows_at_rest_are_ciphertext(store: Store, master_key: str) -> None:
    Vault(store).set("sandbox", "ifs", "client_secret", SECRET)
    with store.cursor() as cur:
        cur.execute("SELECT ciphertext::text, ciphertext FROM connector.credentials")
        as_text, raw = cur.fetchone()
    assert SECRET not in as_text
    assert SECRET.encode() not in bytes(raw)
    assert Fernet(master_key.encode()).decrypt(bytes(raw)).decode() == SECRET


def test_rotation_reencrypts_every_row_and_old_key_then_fails(store: Store) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    Vault(store, load_keys(old)).set("a", "ifs", "client_secret", "s1")
    Vault(store, load_keys(old)).set("b", "servicetitan", "app_key", "s2")
    with store.cursor() as cur:
        cur.execute("SELECT ciphertext FROM connector.credentials ORDER BY connection")
        before = [bytes(r[0]) for r in cur.fetchall()]

    assert Vault(store, load_keys(f"{new},{old}")).rotate() == 2

    with store.cursor() as cur:
        cur.execute("SELECT ciphertext FROM connector.credentials ORDER BY connection")
        after = [bytes(r[0]) for r in cur.fetchall()]
    assert all(a != b for a, b in zip(after, before, strict=True))
    assert Vault(store, load_keys(new)).get("a", "ifs") == {"client_secret": "s1"}
    with pytest.raises(VaultError, match=r"a/ifs/client_secret cannot be decrypted"):
        Vault(store, load_keys(old)).get("a", "ifs")


def test_wrong_key_names_the_credential_not_the_secret(store: Store) -> None:
    Vault(store, load_keys(Fernet.generate_key().decode())).set("x", "ifs", "client_id", SECRET)
    with pytest.raises(VaultError) as err:
        Vault(store, load_keys(Fernet.generate_key().decode())).get("x", "ifs")
    assert "x/ifs/client_id" in str(err.value)
    assert SECRET not in str(err.value)


def test_corrupt_ciphertext_is_a_clear_error(store: Store, master_key: str) -> None:
    vault = Vault(store)
    vault.set("x", "servicetitan", "app_key", SECRET)
    with store.cursor() as cur:
        cur.execute("UPDATE connector.credentials SET ciphertext = 'garbage'::bytea")
    with pytest.raises(VaultError, match="x/servicetitan/app_key cannot be decrypted"):
        vault.get("x", "servicetitan")


@pytest.mark.parametrize("value", ["", "   ", "not-a-fernet-key", "abc,def"])
def test_missing_or_malformed_master_key(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTOR_MASTER_KEY", value)
    with pytest.raises(ConfigError) as err:
        load_keys()
    assert "CONNECTOR_MASTER_KEY" in str(err.value)
    if value.strip():
        assert value not in str(err.value)


def test_unset_master_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONNECTOR_MASTER_KEY", raising=False)
    with pytest.raises(ConfigError, match="CONNECTOR_MASTER_KEY is not set"):
        load_keys()


def test_unknown_field_and_missing_credentials(store: Store, master_key: str) -> None:
    vault = Vault(store)
    with pytest.raises(VaultError, match="unknown ifs field 'password'"):
        vault.set("x", "ifs", "password", "p")
    vault.set("x", "ifs", "client_id", "id")
    with pytest.raises(VaultError, match=r"no ifs credential.*client_secret"):
        vault.require("x", "ifs")


def test_cli_set_reads_stdin_and_list_masks(
    db_env: str,
    master_key: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(SECRET + "\n"))
    assert main(["credentials", "set", "sandbox", "ifs", "client_secret"]) == 0
    monkeypatch.setenv("ST_KEY_FOR_TEST", "ak1.secret-app-key")
    assert (
        main(
            [
                "credentials",
                "set",
                "sandbox",
                "servicetitan",
                "app_key",
                "--from-env",
                "ST_KEY_FOR_TEST",
            ]
        )
        == 0
    )
    assert main(["credentials", "list"]) == 0
    out = capsys.readouterr().out
    assert "client_secret" in out and "app_key" in out and "********" in out
    assert SECRET not in out and "secret-app-key" not in out


def test_cli_rotate_and_errors_never_print_secrets(
    db_env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv("CONNECTOR_MASTER_KEY", old)
    monkeypatch.setattr(sys, "stdin", io.StringIO(SECRET + "\n"))
    assert main(["credentials", "set", "sandbox", "ifs", "client_secret"]) == 0
    monkeypatch.setenv("CONNECTOR_MASTER_KEY", f"{new},{old}")
    assert main(["credentials", "rotate"]) == 0
    monkeypatch.setenv("CONNECTOR_MASTER_KEY", old)
    monkeypatch.setattr(sys, "stdin", io.StringIO(SECRET + "\n"))
    # the old key alone can no longer read what rotate re-encrypted
    from connector_dagster.lib.store import Store as _Store

    with pytest.raises(VaultError):
        Vault(_Store(db_env)).get("sandbox", "ifs")
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err and old not in out.out + out.err


def test_secret_is_never_accepted_on_argv(db_env: str, master_key: str) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "connector_dagster.cli",
            "credentials",
            "set",
            "c",
            "ifs",
            "client_secret",
            SECRET,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0
    assert "never from the command line" in proc.stderr
    assert SECRET not in proc.stderr + proc.stdout


def test_replace_keeps_the_previous_value_until_its_expiry(store: Store, master_key: str) -> None:
    vault = Vault(store)
    assert vault.replace("c", "servicetitan", "webhook_key", "k1", "webhook_key_previous",
                         timedelta(hours=1)) is None  # fmt: skip
    until = vault.replace(
        "c", "servicetitan", "webhook_key", "k2", "webhook_key_previous", timedelta(hours=1)
    )

    entries = vault.entries("c", "servicetitan")
    assert (entries["webhook_key"].value, entries["webhook_key"].expires_at) == ("k2", None)
    assert (entries["webhook_key_previous"].value, entries["webhook_key_previous"].expires_at) == (
        "k1",
        until,
    )
    with store.cursor() as cur:
        cur.execute(
            "UPDATE connector.credentials SET expires_at = now() - interval '1 s' "
            "WHERE expires_at IS NOT NULL"
        )
    assert vault.get("c", "servicetitan") == {"webhook_key": "k2"}


def test_webhook_keys_are_optional_for_the_servicetitan_client(
    store: Store, master_key: str
) -> None:
    vault = Vault(store)
    for field in ("client_id", "client_secret", "app_key"):
        vault.set("c", "servicetitan", field, f"v-{field}")
    assert set(vault.require("c", "servicetitan")) == {"client_id", "client_secret", "app_key"}
