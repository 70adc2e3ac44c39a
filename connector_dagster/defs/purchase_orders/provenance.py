"""The marker F5 (`st_purchase_orders`) writes into an IFS purchase order's reference
field, `ST PO <ServiceTitan PO number> [connector:<connection>]`: written and looked up
by F5 before each create, recognised by F1, which never sends such a PO back.

It lives with F1 because F5 builds on F1 (F1's mapping tables, read in reverse, and
F1's memo marker): the pair's imports go one way, F5 -> F1, never back."""

from __future__ import annotations

import re

MARKER_PREFIX = "ST PO "
_MARKED = re.compile(re.escape(MARKER_PREFIX) + r"(.+?) \[connector:([^\]]+)\]")


def reference_marker(number: str, connection: str) -> str:
    """The reference F5 gives the IFS PO made for ServiceTitan PO `number`."""
    return f"{MARKER_PREFIX}{number} [connector:{connection}]"


def raised_in_servicetitan(reference: str | None) -> tuple[str, str] | None:
    """(ServiceTitan PO number, connection) of an IFS reference carrying F5's marker,
    wherever in the field it stands (a person may add text around it); else None."""
    found = _MARKED.search(reference or "")
    return (found.group(1), found.group(2)) if found else None
