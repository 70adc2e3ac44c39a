"""The sandbox's state file: both simulators' stored data as tagged JSON, written
atomically and read back only when it was written for the same seed, scale and clock."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from connector_dagster.sandbox.config import SandboxConfig

KIND = "connector-dagster sandbox state"
FORMAT = 1  # bump whenever the shape of a stored row, log or counter changes
SIMULATORS = ("ifs", "servicetitan")
"""The sandbox's two simulators, each a key of the state file."""
UNFIT = (KeyError, TypeError, ValueError, IndexError, AttributeError)
"""What restoring a store raises when a readable file does not hold what this one stores."""

T = TypeVar("T")
_SCALARS = (str, int, float, bool, type(None))
_TAGS: dict[str, Callable[[Any], Any]] = {
    "$tuple": tuple,
    "$decimal": Decimal,
    "$datetime": datetime.fromisoformat,
    "$date": date.fromisoformat,
    "$map": lambda pairs: {key: value for key, value in pairs},
}


def plain(value: Any) -> Any:
    """`value` as fresh JSON values; tuples, Decimals, datetimes, dates and dicts whose keys
    are not plain strings are tagged (`{"$tuple": [...]}`, ...) so that `StateFile.load`
    restores them exactly."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        if all(type(k) is str and k[:1] != "$" for k in value):
            return {k: plain(v) for k, v in value.items()}
        return {"$map": [[plain(k), plain(v)] for k, v in value.items()]}
    if kind is list:
        return [plain(v) for v in value]
    if kind is tuple:
        return {"$tuple": [plain(v) for v in value]}
    if kind is Decimal:
        return {"$decimal": str(value)}
    if kind is datetime:
        return {"$datetime": value.isoformat()}
    if kind is date:
        return {"$date": value.isoformat()}
    raise TypeError(f"a {kind.__name__} ({value!r:.60}) has no form in the sandbox state file")


def _revive(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        [(tag, value)] = obj.items()
        make = _TAGS.get(tag)
        if make is not None:
            return make(value)
    return obj


def fingerprint(config: SandboxConfig) -> dict[str, Any]:
    """What the stored data grew from: a file written for another one is not loaded."""
    return {
        "seed": config.seed,
        "scale": config.scale,
        "clock": None if config.now is None else config.seeded_as_of().isoformat(),
        "tenant": config.st_tenant_id,
        # Only when set, so that files written before it existed still load.
        **(
            {"period_orders": dict(sorted(config.period_orders.items()))}
            if config.period_orders
            else {}
        ),
        **(
            {"period_invoices": dict(sorted(config.period_invoices.items()))}
            if config.period_invoices
            else {}
        ),
    }


def _describe(head: dict[str, Any]) -> str:
    clock = head.get("clock") or "the real time at start"
    return (
        f"seed {head.get('seed')}, scale {head.get('scale')}, "
        + (f"orders per period {head['period_orders']}, " if head.get("period_orders") else "")
        + (
            f"invoices per period {head['period_invoices']}, "
            if head.get("period_invoices")
            else ""
        )
        + f"clock {clock}, "
        f"ServiceTitan tenant {head.get('tenant')}"
    )


def _say(message: str) -> None:
    print(f"sandbox: {message}", file=sys.stderr, flush=True)


class StateFile:
    """`config.state_file`: `load` once at start, then `save` as often as wanted (a save
    that would write what the file already holds writes nothing)."""

    def __init__(self, config: SandboxConfig) -> None:
        assert config.state_file is not None
        self.path = Path(config.state_file)
        self.head = {"kind": KIND, "format": FORMAT, **fingerprint(config)}
        self._lock = threading.Lock()
        self._digest: bytes | None = None

    def load(self, restore: Callable[[dict[str, Any]], T]) -> T | None:
        """`restore(data)` of the file's data per system when it holds data for this seed,
        scale and clock; otherwise None, having said on stderr why the sandbox seeds afresh."""
        try:
            raw = self.path.read_bytes()
            modified = datetime.fromtimestamp(self.path.stat().st_mtime, UTC)
        except FileNotFoundError:
            _say(f"no saved data in {self.path} yet: seeded afresh; it is saved there")
            return None
        except OSError as exc:
            _say(f"cannot read {self.path} ({exc.strerror}): seeded afresh; fix its permissions")
            return None
        try:
            document = json.loads(raw, object_hook=_revive)
        except (ValueError, TypeError, ArithmeticError, RecursionError) as exc:
            return self.refuse(f"is truncated or corrupt ({str(exc).splitlines()[0]:.80})")
        if not isinstance(document, dict) or document.get("kind") != KIND:
            return self.refuse("is not a sandbox state file")
        if document.get("format") != FORMAT:
            return self.refuse(
                f"is in format {document.get('format')!r}, this sandbox reads format {FORMAT}"
            )
        saved = {key: document.get(key) for key in self.head}
        if saved != self.head:
            return self.refuse(f"was written for {_describe(saved)}, not {_describe(self.head)}")
        try:
            restored = restore({system: document[system] for system in SIMULATORS})
        except UNFIT as exc:
            return self.refuse(f"does not hold what this sandbox stores ({exc!r:.80})")
        _say(f"resumed the data saved in {self.path} at {modified:%Y-%m-%d %H:%M:%S} UTC")
        return restored

    def refuse(self, why: str) -> None:
        """Say why the file is not loaded, and keep it aside as `<file>.old`."""
        kept = self.path.with_name(self.path.name + ".old")
        try:
            os.replace(self.path, kept)
        except OSError:
            _say(f"{self.path} {why}: seeded afresh; the next save replaces it")
            return
        _say(f"{self.path} {why}: seeded afresh; the file is kept as {kept}")

    def save(self, parts: dict[str, Any]) -> bool:
        """Write `parts` (each system's data, already `plain`) with the file's head:
        to a temporary file, flushed to disk, then renamed over the file. False when the
        file already held exactly that."""
        data = json.dumps({**self.head, **parts}, separators=(",", ":")).encode()
        digest = hashlib.blake2b(data, digest_size=32).digest()
        with self._lock:
            if digest == self._digest:
                return False
            _write_atomically(self.path, data)
            self._digest = digest
        return True


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    try:
        with open(temporary, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
