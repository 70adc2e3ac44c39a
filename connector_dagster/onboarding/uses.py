"""What each flow uses of each system, declared in its folder: a module `uses.py`
beside its `spec.py` with `USES = (...)` of the declarations `onboarding.ifs` and
`onboarding.servicetitan` define (an entity set by the setting that names it, with
the fields read and written; an API resource with the methods it writes with).
A flow may also declare `AMOUNT(item data) -> Decimal`, a record's document amount,
which `mappings coverage` sums per missing entry. `check` and `coverage` read them;
they name no flow themselves."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from decimal import Decimal
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from connector_dagster.engine import registry
from connector_dagster.onboarding.findings import Finding


class Use(Protocol):
    """One thing a flow uses of one system, and how to ask that system for it."""

    system: str

    def check(self, probe: Any, flow: str, settings: Any) -> list[Finding]: ...


@cache
def modules(package: str = registry.FLOWS_PACKAGE) -> dict[str, ModuleType | None]:
    """Flow name -> its folder's `uses` module (None without one)."""
    root = importlib.import_module(package)
    found: dict[str, ModuleType | None] = {}
    for info in pkgutil.iter_modules(root.__path__):
        folder = Path(root.__path__[0]) / info.name
        if not info.ispkg or not (folder / "spec.py").exists():
            continue
        spec = importlib.import_module(f"{package}.{info.name}.spec").SPEC
        found[spec.name] = (
            importlib.import_module(f"{package}.{info.name}.uses")
            if (folder / "uses.py").exists()
            else None
        )
    return found


def declared(package: str = registry.FLOWS_PACKAGE) -> dict[str, tuple[Use, ...]]:
    """Flow name -> what it uses, from each flow folder's `uses.py` (empty without one)."""
    return {
        name: tuple(module.USES) if module is not None else ()
        for name, module in modules(package).items()
    }


def amount(flow: str) -> Callable[[dict[str, Any]], Decimal | None] | None:
    """The flow's `AMOUNT(item data)` (a record's document amount, for coverage), if its
    `uses.py` declares one."""
    module = modules().get(flow)
    return getattr(module, "AMOUNT", None) if module is not None else None
