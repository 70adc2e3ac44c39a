"""Values of `connector-dagster`'s arguments: argparse types that check a value's form
(each names what it wants; argparse prefixes the argument), and the check of the
connection, flow and mapping kind a command names against the project's own."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

N = TypeVar("N", int, float)


def _between(convert: Callable[[str], N], noun: str, low: N, high: N) -> Callable[[str], N]:
    """An argparse type: `convert(text)`, refused unless it is `noun` in `low..high`."""

    def parse(text: str) -> N:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{_shown(value)} is not in {_shown(low)}..{_shown(high)}"
            )
        return value

    return parse


def _shown(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def int_between(low: int, high: int) -> Callable[[str], int]:
    return _between(int, "a whole number", low, high)


def float_between(low: float, high: float) -> Callable[[str], float]:
    return _between(float, "a number", low, high)


def period(text: str) -> str:
    """An accounting period, YYYY-MM or its partition key YYYY-MM-01 -> the partition key."""
    from connector_dagster.engine.records import Period

    try:
        return Period.parse(text).key
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def variable_name(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text):
        raise argparse.ArgumentTypeError(
            "give the name of an environment variable (letters, digits, _), not a value"
        )
    return text


def sandbox_clock(text: str) -> str:
    from connector_dagster.sandbox.config import SandboxConfig

    try:
        SandboxConfig(now=text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def period_orders(text: str) -> tuple[str, int]:
    """`YYYY-MM=N`: N purchase orders seeded in that month."""
    return _period_count(text, "--period-orders", "orders")


def period_invoices(text: str) -> tuple[str, int]:
    """`YYYY-MM=N`: N ServiceTitan invoices (with items and jobs) seeded in that month."""
    return _period_count(text, "--period-invoices", "invoices")


def _period_count(text: str, option: str, what: str) -> tuple[str, int]:
    from connector_dagster.sandbox.config import check_period_orders

    month, equals, count = text.partition("=")
    if not equals or not count.strip().isdigit():
        raise argparse.ArgumentTypeError(
            f"give a month and a count like 2026-10=100000, not {text!r}"
        )
    try:
        check_period_orders(month.strip(), int(count), option, what)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return month.strip(), int(count)


def faults_file(text: str) -> Path:
    """A fault profile file both simulators can load."""
    from connector_dagster.sandbox.faults import FaultProfile
    from connector_dagster.sandbox.statefile import SIMULATORS

    path = Path(text)
    try:
        for system in SIMULATORS:
            FaultProfile.from_file(path, system)
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, TypeError, AttributeError) as exc:
        raise argparse.ArgumentTypeError(f"{path} is not a fault profile: {exc}") from None
    except Exception as exc:  # yaml's errors: any parse error of the file
        first = str(exc).strip().splitlines()[0]
        raise argparse.ArgumentTypeError(f"{path} is not valid YAML: {first}") from None
    return path


def state_file(text: str) -> str:
    """A file the sandbox can keep its data in: in an existing folder, not a folder."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a folder; name a file in it")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"the folder {path.parent} does not exist; create it")
    return str(path)


def connection_counts(text: str) -> tuple[int, ...]:
    """`1,2,4`: counts of connections, each 1..16."""
    counts = []
    for part in text.split(","):
        if not part.strip().isdigit() or not 1 <= int(part) <= 16:
            raise argparse.ArgumentTypeError(
                f"{part.strip()!r} is not a number of connections from 1 to 16 (give 1,2,4)"
            )
        counts.append(int(part))
    return tuple(counts)


def bench_scenario(text: str) -> str:
    from connector_dagster import bench

    names = bench.scenarios()
    if text not in names:
        raise argparse.ArgumentTypeError(f"unknown scenario {text!r}; one of {', '.join(names)}")
    return text


def arg_name(parser: argparse.ArgumentParser, dest: str) -> str:
    """How argparse names the argument stored in `dest`: `--flow`, or `connection`."""
    action = next(a for a in parser._actions if a.dest == dest)
    return action.option_strings[0] if action.option_strings else dest


def check_names(args: argparse.Namespace) -> None:
    """Refuse a connection, flow or mapping kind the project does not have, the way
    argparse refuses a bad value."""
    connection, flow, kind = (getattr(args, a, None) for a in ("connection", "flow", "kind"))
    if not args.known_connection:
        connection = None
    if connection is flow is kind is None:
        return
    from connector_dagster.engine import registry

    parser: argparse.ArgumentParser = args.parser
    if connection is not None:
        known = sorted(registry.load_connections())
        if connection not in known:
            parser.error(
                f"argument {arg_name(parser, 'connection')}: unknown connection {connection!r} "
                f"(the connections are: {', '.join(known) or 'none'})"
            )
    if flow is not None:
        flows = registry.flows()
        codes = {spec.label.split(":", 1)[0].strip().upper(): name for name, spec in flows.items()}
        args.flow = flow = codes.get(flow.strip().upper(), flow)  # F1 .. F5 name flows too
        if flow not in flows:
            named = ", ".join(
                f"{code} {name}" for code, name in sorted(codes.items(), key=lambda c: c[1])
            )
            parser.error(
                f"argument {arg_name(parser, 'flow')}: unknown flow {flow!r} (the flows are: "
                f"{named})"
            )
    kinds = [t.kind for t in registry.tables()]
    if kind is not None and kind not in kinds:
        parser.error(
            f"argument {arg_name(parser, 'kind')}: unknown mapping kind {kind!r} "
            f"(one of: {', '.join(kinds)})"
        )


PORT = int_between(1, 65535)
SANDBOX_PORT = int_between(0, 65535)
SCALE = int_between(1, 100)
