"""The two provenance markers of purchase orders, so that F1 and F5 never send a PO
back and forth:

- F1 writes `IFS PO <OrderNo> [connector:<connection>]` into a ServiceTitan PO's memo
  (read back as `summary`); F5 recognises it and leaves the PO to F1.
- F5 writes `ST PO <number> [connector:<connection>]` into an IFS PO's reference
  field; F1 recognises it and links the PO instead of sending it back.

Recognising a marker finds it wherever it stands in the field (a person may add text
around it): that is resemblance, not proof; adoption needs the exact marker.
"""

from __future__ import annotations

import re

IFS_PREFIX = "IFS PO "
ST_PREFIX = "ST PO "
_TAGGED = r"(.+?) \[connector:([^\]]+)\]"
_FROM_IFS = re.compile(re.escape(IFS_PREFIX) + _TAGGED)
_FROM_ST = re.compile(re.escape(ST_PREFIX) + _TAGGED)


def provenance_marker(order_no: str) -> str:
    """The memo F1 maps for IFS PO `order_no` (tagged with the connection on write)."""
    return f"{IFS_PREFIX}{order_no}"


def memo_marker(memo: str, connection: str) -> str:
    """The memo F1 writes into ServiceTitan: the mapped memo tagged with the
    connection, so only this connection's POs are ever adopted."""
    return f"{memo} [connector:{connection}]"


def marked_order(summary: str | None, connection: str) -> str | None:
    """The IFS order number of a ServiceTitan PO whose memo carries this connection's
    F1 marker, wherever in the memo; else None."""
    found = re.search(
        re.escape(IFS_PREFIX) + r"(.+?) \[connector:" + re.escape(connection) + r"\]",
        summary or "",
    )
    return found.group(1) if found else None


def made_from_ifs(summary: str | None) -> bool:
    """Whether a ServiceTitan PO's memo carries F1's marker (any connection's)."""
    return _FROM_IFS.search(summary or "") is not None


def reference_marker(number: str, connection: str) -> str:
    """The reference F5 gives the IFS PO made for ServiceTitan PO `number`."""
    return f"{ST_PREFIX}{number} [connector:{connection}]"


def raised_in_servicetitan(reference: str | None) -> tuple[str, str] | None:
    """(ServiceTitan PO number, connection) of an IFS reference carrying F5's marker,
    wherever in the field it stands; else None."""
    found = _FROM_ST.search(reference or "")
    return (found.group(1), found.group(2)) if found else None
