"""What each flow uses of each system, declared in its folder: a module `uses.py`
beside its `spec.py` with `USES = (...)` of the declarations `onboarding.ifs` and
`onboarding.servicetitan` define (an entity set by the setting that names it, with
the fields read and written; an API resource with the methods it writes with).
`check` reads them; it names no flow itself."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any, Protocol

from connector_dagster.engine import registry
from connector_dagster.onboarding.findings import Finding


class Use(Protocol):
    """One thing a flow uses of one system, and how to ask that system for it."""

    system: str

    def check(self, probe: Any, flow: str, settings: Any) -> list[Finding]: ...


def declared(package: str = registry.FLOWS_PACKAGE) -> dict[str, tuple[Use, ...]]:
    """Flow name -> what it uses, from each flow folder's `uses.py` (empty without one)."""
    root = importlib.import_module(package)
    found: dict[str, tuple[Use, ...]] = {}
    for info in pkgutil.iter_modules(root.__path__):
        folder = Path(root.__path__[0]) / info.name
        if not info.ispkg or not (folder / "spec.py").exists():
            continue
        spec = importlib.import_module(f"{package}.{info.name}.spec").SPEC
        uses: tuple[Use, ...] = ()
        if (folder / "uses.py").exists():
            uses = tuple(importlib.import_module(f"{package}.{info.name}.uses").USES)
        found[spec.name] = uses
    return found
