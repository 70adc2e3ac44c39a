"""The IFS simulator's projections, entity sets and row identities, in one place.

Every projection, entity-set, key and field name the simulator serves is
defined here, with what IFS adds to each row: ROWID (Objid), Objversion,
Objkey, luname, keyref (`COL=value^`), Objgrants and the ETag built from them.
`metadata_xml` renders a projection's CSDL document.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from connector_dagster.sandbox import world
from connector_dagster.sandbox.ifs.odata import (
    DATE,
    DATETIME,
    DECIMAL,
    STRING,
    EntityType,
    Property,
    format_literal,
)

Row = tuple[Any, ...]
OBJVERSION_FORMAT = "%Y%m%d%H%M%S"
META = ("Objversion", "Objkey", "Objid", "luname", "keyref", "Objgrants")
# Set by IFS, never by a client: an API write may repeat the current value, not change it.
READ_ONLY = frozenset({*META, "Objstate", "ChangeDate", "DateEntered"})


def column(name: str) -> str:
    """A property name as an IFS database column: OrderNo -> ORDER_NO."""
    return "".join("_" + c if c.isupper() else c.upper() for c in name).lstrip("_")


def _s(name: str, max_length: int | None = None) -> Property:
    return Property(name, STRING, max_length=max_length)


def _n(name: str) -> Property:
    return Property(name, DECIMAL)


def _date(name: str) -> Property:
    return Property(name, DATE)


def _state(enum: str, members: Iterable[str]) -> Property:
    return Property("Objstate", enum, members=tuple(members))


@dataclass(frozen=True)
class EntitySet:
    """An entity set: its entity type, keys, and the rules its writes follow."""

    name: str
    entity: str
    luname: str
    keys: tuple[str, ...]
    fields: tuple[Property, ...]
    indexed: tuple[str, ...] = ()  # fields with a lookup index besides the key
    parent: str | None = None  # set whose keys (same names) a row must point at
    auto_key: str | None = None  # key numbered by the server when a create leaves it out
    required: tuple[str, ...] = ()

    @cached_property
    def properties(self) -> tuple[Property, ...]:
        return (*self.fields, *(_s(m) for m in META))

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.properties)

    @cached_property
    def index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.names)}

    def entity_type(self, namespace: str) -> EntityType:
        return EntityType(namespace, self.entity, self.properties, self.keys)

    def key_of(self, row: Row) -> tuple[Any, ...]:
        return tuple(row[self.index[k]] for k in self.keys)

    @cached_property
    def _keyref_template(self) -> str:
        return "".join(f"{column(k)}={{}}^" for k in self.keys)

    def keyref(self, key: Iterable[Any]) -> str:
        """IFS's key reference, `COL=value^` per key column: ORDER_NO=PO-1^."""
        return self._keyref_template.format(
            *[v if type(v) is str else format_literal(v) for v in key]
        )

    def make_row(self, values: dict[str, Any], objid: str) -> Row:
        """A stored row from field values (missing ones are null) plus the meta columns."""
        values["Objid"] = objid
        values["luname"] = self.luname
        values["keyref"] = self.keyref([values[k] for k in self.keys])
        return tuple(map(values.get, self.names))


PO_STATE = _state("PurchaseOrderState", world.PO_STATES)
PURCHASE_ORDERS = EntitySet(
    "PurchaseOrderSet", "PurchaseOrder", "PurchaseOrder", ("OrderNo",),
    (
        _s("OrderNo", 20), _s("VendorNo", 20), _date("OrderDate"), PO_STATE, _s("Contract", 5),
        _s("BuyerCode", 20), _s("AuthorizeCode", 20), _s("CurrencyCode", 3), _s("Company", 20),
        _date("DateEntered"), Property("ChangeDate", DATETIME), _date("WantedReceiptDate"),
        _s("Reference", 50), _s("NoteText", 2000), _s("TaxCode", 20), _s("CancelReason", 100),
    ),
    required=("VendorNo", "OrderDate", "Contract", "Company", "CurrencyCode"),
)  # fmt: skip
PURCHASE_ORDER_LINES = EntitySet(
    "PurchaseOrderLineSet", "PurchaseOrderLine", "PurchaseOrderLine",
    ("OrderNo", "LineNo", "ReleaseNo"),
    (
        _s("OrderNo", 20), _s("LineNo", 4), _s("ReleaseNo", 4), _s("PartNo", 25),
        _s("Description", 200), _n("BuyQtyDue"), _s("BuyUnitMeas", 10), _n("BuyUnitPrice"),
        _n("NetAmtCurr"), _n("GrossAmtCurr"), _s("CurrencyCode", 3),
        _state("PurchaseOrderLineState", world.PO_STATES), _s("Contract", 5), _s("VendorNo", 20),
        _date("WantedDeliveryDate"), _s("TaxCode", 20),
    ),
    indexed=("OrderNo",), parent="PurchaseOrderSet", required=("BuyQtyDue", "BuyUnitPrice"),
)  # fmt: skip
PROPOSAL_STATES = ("Balanced", "AwaitAuth", "Authorized", "Posted")
POSTING_PROPOSALS = EntitySet(
    "PostingProposalSet", "PostingProposal", "PostingProposalHead", ("Company", "ProposalId"),
    (
        _s("Company", 20), _n("ProposalId"), _date("VoucherDate"), _s("VoucherType", 3),
        _state("PostingProposalState", PROPOSAL_STATES), _s("Text", 200), _s("Reference", 50),
    ),
    auto_key="ProposalId", required=("VoucherDate", "VoucherType"),
)  # fmt: skip
_GL_ROW = (
    _s("Account", 20),
    _s("CodeB", 20),
    _n("CurrencyDebetAmount"),
    _n("CurrencyCreditAmount"),
)
POSTING_PROPOSAL_LINES = EntitySet(
    "PostingProposalLineSet", "PostingProposalLine", "PostingProposalLine",
    ("Company", "ProposalId", "RowNo"),
    (
        _s("Company", 20), _n("ProposalId"), _n("RowNo"), *_GL_ROW, _s("CodeC", 20),
        _s("PartyType", 20), _s("PartyTypeId", 20), _s("CurrencyCode", 3), _s("Text", 200),
    ),
    indexed=("ProposalId",), parent="PostingProposalSet", auto_key="RowNo", required=("Account",),
)  # fmt: skip
EXTERNAL_VOUCHERS = EntitySet(
    "ExternalVoucherSet", "ExternalVoucher", "ExtLoadInfo", ("Company", "LoadId"),
    (
        _s("Company", 20), _s("LoadId", 20), _date("VoucherDate"), _s("VoucherType", 3),
        _s("Text", 200), _s("Reference", 50),
        _state("ExternalVoucherState", ("Loaded", "Checked", "Created")),
    ),
    indexed=("Reference",), auto_key="LoadId", required=("VoucherDate", "VoucherType"),
)  # fmt: skip
EXTERNAL_VOUCHER_ROWS = EntitySet(
    "ExternalVoucherRowSet", "ExternalVoucherRow", "ExtTransactions",
    ("Company", "LoadId", "RowNo"),
    (
        _s("Company", 20), _s("LoadId", 20), _n("RowNo"), *_GL_ROW, _s("Text", 200),
        _s("Reference", 50),
    ),
    indexed=("LoadId",), parent="ExternalVoucherSet", auto_key="RowNo", required=("Account",),
)  # fmt: skip

SETS: dict[str, EntitySet] = {
    s.name: s
    for s in (
        PURCHASE_ORDERS,
        PURCHASE_ORDER_LINES,
        POSTING_PROPOSALS,
        POSTING_PROPOSAL_LINES,
        EXTERNAL_VOUCHERS,
        EXTERNAL_VOUCHER_ROWS,
    )
}


@dataclass(frozen=True)
class Service:
    """A projection (`projection/v1/{name}.svc`) or entity service (`entity/v1/...`)."""

    kind: str
    name: str
    sets: tuple[EntitySet, ...]
    tiers: tuple[str, ...] = ("main", "int", "b2b")

    @cached_property
    def namespace(self) -> str:
        return f"IfsApp.{self.name}"

    @cached_property
    def types(self) -> dict[str, EntityType]:
        return {s.name: s.entity_type(self.namespace) for s in self.sets}


SERVICES: dict[tuple[str, str], Service] = {
    (s.kind, s.name): s
    for s in (
        Service("projection", "PurchaseOrderHandling", (PURCHASE_ORDERS, PURCHASE_ORDER_LINES)),
        Service("entity", "PurchaseOrderLineEntity", (PURCHASE_ORDER_LINES,), tiers=("int",)),
        Service(
            "projection", "PostingProposalHandling", (POSTING_PROPOSALS, POSTING_PROPOSAL_LINES)
        ),
        Service(
            "projection", "ExternalVoucherHandling", (EXTERNAL_VOUCHERS, EXTERNAL_VOUCHER_ROWS)
        ),
    )
}

_ROWID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _b64n(n: int, width: int) -> str:
    chars = []
    for _ in range(width):
        n, d = divmod(n, 64)
        chars.append(_ROWID_ALPHABET[d])
    return "".join(reversed(chars))


# Data object number and file number of each set's table: the first 9 ROWID characters.
_ROWID_PREFIX = {name: f"{_b64n(74000 + i, 6)}AAG" for i, name in enumerate(SETS)}


def rowid(set_name: str, seq: int) -> str:
    """An 18-character Oracle-style ROWID, unique per (set, sequence number)."""
    return _ROWID_PREFIX[set_name] + "A" + base64.b64encode(seq.to_bytes(6, "big")).decode()


def etag(objid: str, objversion: str) -> str:
    """IFS's weak ETag: W/"base64(W/"<ROWID>:<Objversion>")"."""
    inner = base64.b64encode(f'W/"{objid}:{objversion}"'.encode()).decode()
    return f'W/"{inner}"'


def next_objversion(previous: str | None) -> str:
    """Now, but strictly after `previous` even within the same second."""
    now = datetime.now(UTC).strftime(OBJVERSION_FORMAT)
    if previous is None or now > previous:
        return now
    bumped = datetime.strptime(previous, OBJVERSION_FORMAT) + timedelta(seconds=1)
    return bumped.strftime(OBJVERSION_FORMAT)


def metadata_xml(service: Service) -> str:
    """A compact CSDL document: enum types, entity types and the container."""
    ns = service.namespace
    enums: dict[str, tuple[str, ...]] = {}
    types = []
    for eset in service.sets:
        props = []
        for p in eset.properties:
            if p.members:
                enums[p.type] = p.members
            type_name = f"{ns}.{p.type}" if p.members else p.type
            facets = ' Precision="130" Scale="65"' if p.type == DECIMAL else ""
            facets += f' MaxLength="{p.max_length}"' if p.max_length else ""
            props.append(f'<Property Name="{p.name}" Type="{type_name}"{facets}/>')
        keys = "".join(f'<PropertyRef Name="{k}"/>' for k in eset.keys)
        types.append(
            f'<EntityType Name="{eset.entity}"><Key>{keys}</Key>{"".join(props)}</EntityType>'
        )
    enum_xml = "".join(
        f'<EnumType Name="{name}" IsFlags="false" UnderlyingType="Edm.Int32">'
        + "".join(f'<Member Name="{m}" Value="{i}"/>' for i, m in enumerate(members))
        + "</EnumType>"
        for name, members in enums.items()
    )
    sets = "".join(
        f'<EntitySet Name="{s.name}" EntityType="{ns}.{s.entity}"/>' for s in service.sets
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">'
        "<edmx:DataServices>"
        f'<Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace="{ns}">'
        f"{enum_xml}{''.join(types)}"
        f'<EntityContainer Name="DefaultContainer">{sets}</EntityContainer>'
        "</Schema></edmx:DataServices></edmx:Edmx>"
    )
