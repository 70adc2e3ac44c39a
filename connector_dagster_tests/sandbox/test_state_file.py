"""The sandbox's state file, over real HTTP: what clients did in both simulators is there
after a stop and a start (or a kill -9 after a periodic save), and a file for another
seed, scale or clock, or one that is corrupt, is set aside for a fresh seed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector_dagster.cli import main
from connector_dagster.sandbox.ifs.schema import SETS
from connector_dagster.sandbox.server import Sandbox, SandboxConfig, SandboxProcess
from connector_dagster.sandbox.statefile import StateFile, plain
from connector_dagster_tests.sandbox.ifs.support import PO, SECRET, Ifs
from connector_dagster_tests.sandbox.servicetitan.support import new_po, wait_until

CLOCK = "2026-11-16T00:00:00Z"
VOUCHERS = "/int/ifsapplications/projection/v1/ExternalVoucherHandling.svc/ExternalVoucherSet"
ST_RESOURCES = ("purchase-orders", "journal-entries", "invoices", "gl-accounts")


def config(state_file: Path | None, **overrides: Any) -> SandboxConfig:
    return SandboxConfig(
        **{
            "ifs_port": 0,
            "st_port": 0,
            "now": CLOCK,
            "ifs_client_secret": SECRET,
            "ifs_rate_per_min": 0,
            "st_rate_per_s": 0,
            "state_file": None if state_file is None else str(state_file),
            **overrides,
        }
    )


class St:
    """A ServiceTitan client for the sandbox that `info` describes."""

    def __init__(self, info: dict[str, Any]) -> None:
        st = info["servicetitan"]
        self.http = httpx.Client(base_url=st["api_url"], timeout=30)
        token = self.http.post(
            "/connect/token",
            data={
                "grant_type": "client_credentials",
                "client_id": st["client_id"],
                "client_secret": st["client_secret"],
            },
        ).json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}", "ST-App-Key": st["app_key"]}
        self.tenant = st["tenant_id"]

    def api(self, method: str, module: str, rest: str, **kwargs: Any) -> Any:
        path = f"/{module}/v2/tenant/{self.tenant}/{rest}"
        response = self.http.request(method, path, headers=self.headers, **kwargs)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    def control(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, f"/_sandbox/{path}", json=body)
        assert response.status_code < 300, response.text
        return response.json()


@contextmanager
def clients(info: dict[str, Any]) -> Iterator[tuple[Ifs, St]]:
    with httpx.Client(base_url=info["ifs"]["base_url"], timeout=30) as http:
        st = St(info)
        try:
            yield Ifs(http), st
        finally:
            st.http.close()


def observe(info: dict[str, Any]) -> dict[str, Any]:
    """What clients can see of both simulators' stored data."""
    with clients(info) as (ifs, st):
        seen: dict[str, Any] = {name: ifs.raw(name) for name in SETS}
        ifs_state = ifs.http.get("/_sandbox/state").json()
        seen["ifs"] = {k: ifs_state[k] for k in ("seed", "scale", "seededAsOf", "counts")}
        seen["ifs periods"] = ifs.http.get("/_sandbox/periods").json()
        for resource in ST_RESOURCES:
            seen[resource] = st.control("GET", f"entities/{resource}")
        st_state = st.control("GET", "state")
        seen["st"] = {k: st_state[k] for k in ("seed", "scale", "seededAsOf", "counts", "version")}
        seen["st periods"] = st.control("GET", "accounting-periods")
        seen["po feed"] = st.api("GET", "inventory", "export/purchase-orders")["continueFrom"]
    return seen


def new_voucher(reference: str) -> dict[str, Any]:
    return {"Company": "ACME01", "VoucherDate": "2026-11-05", "VoucherType": "GL",
            "Reference": reference}  # fmt: skip


def change_both(info: dict[str, Any]) -> dict[str, Any]:
    """Writes through both APIs and control endpoints; returns the ids they made."""
    with clients(info) as (ifs, st):
        voucher = ifs.send("POST", VOUCHERS, new_voucher("ST-INV-1"))
        assert voucher.status_code == 201, voucher.text
        [order] = [o for o in ifs.raw("PurchaseOrderSet") if o["Objstate"] == "Released"][:1]
        line = ifs.http.get(
            "/_sandbox/entities/PurchaseOrderLineSet", params={"OrderNo": order["OrderNo"]}
        ).json()["value"][0]
        url = (f"{PO}/PurchaseOrderLineSet(OrderNo='{line['OrderNo']}',LineNo='{line['LineNo']}',"
               f"ReleaseNo='{line['ReleaseNo']}')")  # fmt: skip
        etag = ifs.get(url).json()["@odata.etag"]
        patched = ifs.send("PATCH", url, {"BuyUnitPrice": 23.45}, **{"If-Match": etag})
        assert patched.status_code == 204, patched.text
        edit = {"set": "PurchaseOrderSet", "key": {"OrderNo": order["OrderNo"]},
                "changes": {"Objstate": "Confirmed"}}  # fmt: skip
        assert ifs.http.post("/_sandbox/edit", json=edit).status_code == 200
        gone = {
            "set": "PurchaseOrderSet",
            "key": {"OrderNo": ifs.raw("PurchaseOrderSet")[0]["OrderNo"]},
        }
        assert ifs.http.post("/_sandbox/delete", json=gone).status_code == 204
        assert ifs.http.post("/_sandbox/periods/ACME01/2026-03/close").status_code == 200

        po_id = st.api("POST", "inventory", "purchase-orders", json=new_po())["id"]
        st.api("PATCH", "inventory", f"purchase-orders/{po_id}", json={"memo": "changed in ST"})
        seeded_je = st.control("GET", "entities/journal-entries")[-1]["id"]
        st.control("POST", f"journal-entries/{seeded_je}/touch")
        mark = {"invoiceId": 77000001, "externalId": "ACME01-1", "externalMessage": "ok"}
        st.api("POST", "accounting", "invoices/markasexported", json=[mark])
        st.control("POST", "accounting-periods/2026-03/close")
    return {"voucher": voucher.json()["LoadId"], "po": po_id, "order": line["OrderNo"]}


def test_a_restarted_sandbox_serves_what_clients_changed_before_it_stopped(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sandbox-state.json"
    with SandboxProcess(config(path)) as first:
        made = change_both(first.info)
        before = observe(first.info)
        with clients(first.info) as (_, st):
            feed = st.api("GET", "inventory", "export/purchase-orders")
    assert path.exists() and not path.with_name(path.name + ".tmp").exists()

    with SandboxProcess(config(path)) as second:
        assert observe(second.info) == before
        with clients(second.info) as (ifs, st):
            po = st.api("GET", "inventory", f"purchase-orders/{made['po']}")
            assert po["summary"] == "changed in ST"
            again = ifs.send("POST", VOUCHERS, new_voucher("ST-INV-2"))
            assert again.json()["LoadId"] == str(int(made["voucher"]) + 1)
            assert st.api("POST", "inventory", "purchase-orders", json=new_po())["id"] == (
                made["po"] + 1
            )
            log = ifs.raw("HistoryLogOverviewSet")
            assert log[-1]["LogId"] == log[-2]["LogId"] + 1 == len(log)
            changed = st.api(
                "GET", "inventory", "export/purchase-orders", params={"from": feed["continueFrom"]}
            )
            assert [p["id"] for p in changed["data"]] == [made["po"] + 1]


def saved(path: Path, order: str) -> tuple[str | None, bool]:
    """What the state file holds, as last written: the IFS order's Objstate, and whether
    ServiceTitan's data holds the memo `kill-9 memo`."""
    if not path.exists():
        return None, False
    raw = path.read_bytes()
    store = json.loads(raw)["ifs"]["store"]
    names = store["properties"]["PurchaseOrderSet"]
    rows = (
        dict(zip(names, row["$tuple"], strict=True)) for row in store["rows"]["PurchaseOrderSet"]
    )
    state = next((r["Objstate"] for r in rows if r["OrderNo"] == order), None)
    return state, b"kill-9 memo" in raw


def test_a_kill_after_a_periodic_save_loses_nothing_saved(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    with SandboxProcess(config(path, state_save_s=0.2)) as first:
        with clients(first.info) as (ifs, st):
            order = ifs.raw("PurchaseOrderSet")[0]["OrderNo"]
            edit = {"set": "PurchaseOrderSet", "key": {"OrderNo": order},
                    "changes": {"Objstate": "Closed"}}  # fmt: skip
            marked = ifs.http.post("/_sandbox/edit", json=edit).json()
            po_id = st.api("POST", "inventory", "purchase-orders", json=new_po(memo="kill-9 memo"))[
                "id"
            ]
        # A save takes IFS's data, then ServiceTitan's: one may hold the memo and not the
        # earlier edit, which the next save (0.2 s on) holds too. Wait for a save of both.
        wait_until(lambda: saved(path, order) == ("Closed", True), timeout_s=60)
        assert first.proc is not None
        first.proc.kill()
        first.proc.wait()

    with SandboxProcess(config(path)) as second, clients(second.info) as (ifs, st):
        [row] = ifs.http.get(
            "/_sandbox/entities/PurchaseOrderSet", params={"OrderNo": order}
        ).json()["value"]
        assert (row["Objstate"], row["@odata.etag"]) == ("Closed", marked["@odata.etag"])
        assert st.api("GET", "inventory", f"purchase-orders/{po_id}")["summary"] == "kill-9 memo"


def test_a_reset_goes_back_to_the_seed_and_the_next_start_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    with Sandbox(config(None)) as fresh:
        seeded = observe(fresh.info)
    with Sandbox(config(path)) as first:
        change_both(first.info)
    with Sandbox(config(path)) as second:
        assert observe(second.info) != seeded
        for base in (second.info["ifs"]["base_url"], second.info["servicetitan"]["api_url"]):
            httpx.post(f"{base}/_sandbox/reset", timeout=60).raise_for_status()
        after_reset = observe(second.info)
    with Sandbox(config(path)) as third:
        resumed = observe(third.info)

    # ServiceTitan's closed periods belong to its fault profile, which a reset keeps.
    seeded["st periods"] = {"closed": ["2026-03"]}
    assert after_reset == seeded
    assert resumed == seeded


@pytest.mark.parametrize(
    "other",
    [{"seed": 7}, {"scale": 2}, {"now": "2026-06-15T12:00:00Z"}],
    ids=["seed", "scale", "clock"],
)
def test_a_file_written_for_another_seed_scale_or_clock_is_set_aside(
    tmp_path: Path, other: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "state.json"
    with Sandbox(config(path)) as first:
        change_both(first.info)
    with Sandbox(config(None, **other)) as fresh:
        seeded = observe(fresh.info)
    capsys.readouterr()

    with Sandbox(config(path, **other)) as second:
        err = capsys.readouterr().err
        assert observe(second.info) == seeded
    assert err.count("\n") == 1 and "seeded afresh" in err, err
    assert "was written for seed 42, scale 1, clock 2026-11-16T00:00:00+00:00" in err
    assert path.with_name("state.json.old").exists()
    assert path.exists()  # the stop saved the fresh seed


@pytest.fixture(scope="module")
def saved_file(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("saved") / "state.json"
    with Sandbox(config(path)) as sandbox:
        change_both(sandbox.info)
    return path.read_bytes()


def _wrong_content(saved: bytes) -> bytes:
    document = json.loads(saved)
    document["ifs"] = {"seededAsOf": CLOCK, "store": {"rows": "nothing"}}
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (lambda saved: saved[: len(saved) // 2], "is truncated or corrupt"),
        (lambda saved: b"", "is truncated or corrupt"),
        (lambda saved: b"\x00\xff" * 100, "is truncated or corrupt"),
        (lambda saved: saved.replace(b'"$decimal":"', b'"$decimal":"x'), "truncated or corrupt"),
        (lambda saved: b"[1, 2]", "is not a sandbox state file"),
        (lambda saved: saved.replace(b'"format":1', b'"format":99'), "is in format 99"),
        (_wrong_content, "does not hold what this sandbox stores"),
    ],
    ids=["truncated", "empty", "binary", "bad-decimal", "other-json", "format", "content"],
)
def test_a_corrupt_file_is_set_aside_with_one_line_and_the_sandbox_seeds_afresh(
    tmp_path: Path,
    saved_file: bytes,
    damage: Any,
    said: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(damage(saved_file))
    capsys.readouterr()

    with Sandbox(config(path)) as sandbox:
        err = capsys.readouterr().err
        state = httpx.get(f"{sandbox.info['servicetitan']['api_url']}/_sandbox/state").json()
        periods = httpx.get(f"{sandbox.info['ifs']['base_url']}/_sandbox/periods").json()
    assert err.count("\n") == 1 and said in err and "seeded afresh" in err, err
    assert (state["seed"], periods["closed"]) == (42, [])
    assert path.with_name("state.json.old").read_bytes() == damage(saved_file)


def test_the_file_keeps_exact_values(tmp_path: Path) -> None:
    from datetime import UTC, date, datetime

    value = {
        "decimal": Decimal("12.50"),
        "tuple": (1, "a", None),
        "when": datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC),
        "day": date(2026, 3, 1),
        "ids": {77000001: {"$weird": [("x", Decimal("-0.00"))]}},
        "float": 0.1,
    }
    state = StateFile(config(tmp_path / "values.json"))
    assert state.save({"ifs": plain(value), "servicetitan": plain({})})
    assert not state.save({"ifs": plain(value), "servicetitan": plain({})})  # unchanged

    restored = StateFile(config(tmp_path / "values.json")).load(lambda data: data)
    assert restored == {"ifs": value, "servicetitan": {}}
    assert isinstance(restored["ifs"]["tuple"], tuple)
    assert str(restored["ifs"]["ids"][77000001]["$weird"][0][1]) == "-0.00"


def stopped(proc: subprocess.Popen[str]) -> str:
    """The stderr of a sandbox asked to stop, once it has; one that has not within 120 s
    is asked for its threads' stacks (SIGUSR1), killed, and they are the failure."""
    try:
        return proc.communicate(timeout=120)[1]
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        raise AssertionError(f"the sandbox did not stop in 120 s; its threads:\n{err}") from None


def ignoring_sigint() -> None:
    """In the child before it runs: SIGINT ignored, as a parent's `&` leaves it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_the_sandbox_command_saves_on_ctrl_c_and_resumes(tmp_path: Path) -> None:
    """Even started with SIGINT ignored (as by a shell's `&` or a test runner's worker,
    where it once went on serving after the Ctrl-C), the sandbox stops on SIGINT, saves,
    and the next start resumes the data."""
    path = tmp_path / "state.json"
    cmd = [sys.executable, "-m", "connector_dagster.cli", "sandbox", "--ifs-port", "0",
           "--st-port", "0", "--now", CLOCK, "--state-file", str(path)]  # fmt: skip
    first = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=ignoring_sigint
    )
    try:
        info = json.loads(first.stdout.readline())
        st = info["servicetitan"]["api_url"]
        httpx.post(f"{st}/_sandbox/accounting-periods/2026-04/close").raise_for_status()
    finally:
        first.send_signal(signal.SIGINT)
        err = stopped(first)
    assert "no saved data in" in err and "Traceback" not in err, err

    second = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(second.stdout.readline())
        st = info["servicetitan"]["api_url"]
        assert httpx.get(f"{st}/_sandbox/accounting-periods").json() == {"closed": ["2026-04"]}
    finally:
        second.terminate()
        err = stopped(second)
    assert f"resumed the data saved in {path}" in err, err


def test_the_sandbox_command_refuses_a_state_file_in_no_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sandbox", "--state-file", str(tmp_path / "missing" / "state.json")]) == 2
    assert "--state-file" in capsys.readouterr().err
    assert main(["sandbox", "--state-file", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
