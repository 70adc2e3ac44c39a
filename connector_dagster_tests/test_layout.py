"""The package's shape, read from the source with `ast` (nothing is run): no import
circle anywhere in `connector_dagster`; `lib/` knows neither the engine, the systems nor
any flow; each system imports only `lib/` and itself, and no system is named outside
the packages that may; the engine imports no flow; no flow imports another, and kits
import none; the two simulators never import each other or the server that runs them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import connector_dagster

PACKAGE = Path(connector_dagster.__file__).resolve().parent


def _modules() -> dict[str, Path]:
    """Dotted module name -> source file, for every module of the package."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _absolute(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    """The absolute module named by a `from … import`, relative ones resolved."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join([*base, *([node.module] if node.module else [])])


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports, at any depth of its code
    (function-level and `TYPE_CHECKING` imports included)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name in modules)
            elif isinstance(node, ast.ImportFrom):
                source = _absolute(module, node, path.name == "__init__.py")
                for alias in node.names:
                    submodule = f"{source}.{alias.name}"
                    if submodule in modules:
                        targets.add(submodule)
                    elif source in modules:
                        targets.add(source)
        graph[module] = targets - {module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One import chain per circle (`a, b, …, a`), found by depth-first search."""
    found: list[list[str]] = []
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(module: str) -> None:
        path.append(module)
        on_path.add(module)
        for target in sorted(graph[module]):
            if target in on_path:
                found.append([*path[path.index(target) :], target])
            elif target not in done:
                visit(target)
        path.pop()
        on_path.discard(module)
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            visit(module)
    return found


def test_the_package_has_no_import_circle() -> None:
    circles = cycles(import_graph())

    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


def test_the_cycle_finder_reports_the_chain() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

    assert cycles(graph) == [["a", "b", "c", "a"]]


def test_each_simulator_imports_only_itself_and_the_shared_sandbox_modules() -> None:
    graph = import_graph()
    shared = {f"connector_dagster.sandbox.{m}" for m in ("config", "faults", "world")}
    for simulator in ("ifs", "servicetitan"):
        package = f"connector_dagster.sandbox.{simulator}"
        for module, targets in graph.items():
            if module == package or module.startswith(package + "."):
                strays = {t for t in targets if not t.startswith(package + ".") and t not in shared}
                assert not strays, f"{module} imports {sorted(strays)}"


def _imports_between(graph: dict[str, set[str]], source: str, targets: tuple[str, ...]) -> set:
    return {
        (module, target)
        for module, imported in graph.items()
        if module.startswith(source)
        for target in imported
        if target.startswith(targets)
    }


def test_lib_imports_neither_the_engine_nor_the_flows() -> None:
    wrong = _imports_between(
        import_graph(),
        "connector_dagster.lib",
        (
            "connector_dagster.engine",
            "connector_dagster.defs",
            "connector_dagster.systems",
            "connector_dagster.kits",
        ),
    )
    assert wrong == set()


def test_systems_import_only_lib_and_themselves() -> None:
    """A system's package is below the engine: it imports `lib/`, the registry and
    its own modules, never the engine, a kit, a flow or another system."""
    systems = {p.parent.name for p in (PACKAGE / "systems").glob("*/__init__.py")}
    wrong = set()
    for module, targets in import_graph().items():
        parts = module.split(".")
        if parts[:2] != ["connector_dagster", "systems"]:
            continue
        own = parts[2] if len(parts) > 2 and parts[2] in systems else None
        for target in targets:
            tparts = target.split(".")
            if tparts[:2] == ["connector_dagster", "lib"]:
                continue
            if tparts[:2] == ["connector_dagster", "systems"] and (
                len(tparts) == 2 or tparts[2] not in systems or tparts[2] == own
            ):
                continue
            wrong.add((module, target))
    assert wrong == set(), "\n".join(map(str, sorted(wrong)))


SYSTEM_FREE = ("engine", "lib", "finance", "cli", "definitions.py")
"""Where no system is named: the system packages, the simulators (and `cli/dev.py` and
the benchmarks, which run them), the flows and the kits may name theirs."""
RUN_THE_SIMULATORS = ("cli/dev.py",)


def test_no_system_is_named_outside_its_package() -> None:
    """No `SYSTEMS` list, no `"ifs"`/`"servicetitan"` literal, no `.ifs` attribute in the
    engine, lib, CLI or pools: they read the registry (`connector_dagster.systems`)."""
    from connector_dagster import systems

    names = set(systems.names())
    hits = []
    for root in SYSTEM_FREE:
        paths = [PACKAGE / root] if root.endswith(".py") else (PACKAGE / root).rglob("*.py")
        for path in paths:
            if str(path.relative_to(PACKAGE)) in RUN_THE_SIMULATORS:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                named = (
                    (isinstance(node, ast.Constant) and node.value in names)
                    or (isinstance(node, ast.Attribute) and node.attr in names)
                    or (isinstance(node, ast.Name) and node.id == "SYSTEMS")
                )
                if named:
                    hits.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert hits == []


def test_the_engine_imports_no_flow() -> None:
    wrong = _imports_between(
        import_graph(), "connector_dagster.engine", ("connector_dagster.defs",)
    )
    assert wrong == set()


def test_lib_holds_no_flow_names() -> None:
    pattern = re.compile(r"purchase.?order|po_", re.IGNORECASE)
    hits = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in (PACKAGE / "lib").rglob("*.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert hits == []


def _flow_folders() -> set[str]:
    """The folders under `defs/` that are flows (they hold a spec)."""
    return {path.parent.name for path in (PACKAGE / "defs").glob("*/spec.py")}


def test_no_flow_folder_imports_another_flow() -> None:
    """A flow folder imports the engine, kits and lib, never another flow: what two
    flows share (F3 and F4's postings, F1 and F5's markers and tables) is a kit."""
    flows = _flow_folders()
    wrong = {
        (module, target)
        for module, imported in import_graph().items()
        if module.split(".")[:2] == ["connector_dagster", "defs"]
        and len(module.split(".")) > 3
        and module.split(".")[2] in flows
        for target in imported
        if target.split(".")[:2] == ["connector_dagster", "defs"]
        and len(target.split(".")) > 3
        and target.split(".")[2] in flows
        and target.split(".")[2] != module.split(".")[2]
    }
    assert wrong == set(), "flows importing flows:\n" + "\n".join(map(str, sorted(wrong)))


def test_kits_import_no_flow_and_hold_no_spec() -> None:
    wrong = _imports_between(import_graph(), "connector_dagster.kits", ("connector_dagster.defs",))
    assert wrong == set()
    assert list((PACKAGE / "kits").rglob("spec.py")) == []
