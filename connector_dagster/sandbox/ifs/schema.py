"""The IFS simulator's projections, entity sets and row identities, in one place.

Every projection, entity-set, key and field name the simulator serves is
defined here, with what IFS adds to each row: ROWID (Objid), Objversion,
Objkey, luname, keyref (`COL=value^`), Objgrants and the ETag built from them.
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
    ranged: tuple[str, ...] = ()  # fields with a sorted index, for filters by range
    parent: str | None = None  # set whose keys (same names) a row must point at
    nav: str | None = None  # the parent's navigation property listing these rows
    auto_key: str | None = None  # key numbered by the server when a create leaves it out
    auto_start: int = 1  # the first number of a header's auto_key
    required: tuple[str, ...] = ()
    defaults: tuple[tuple[str, Any], ...] = ()  # values a create fills in when absent
    inherit: tuple[str, ...] = ()  # fields a create copies from the parent when absent
    actions: tuple[str, ...] = ()  # bound actions, `{Entity}_{Action}` in the URL
    read_only: bool = False  # IFS writes it, clients only read

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
    indexed=("Reference",), ranged=("OrderDate",), auto_key="OrderNo", auto_start=1000001,
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
    indexed=("OrderNo",), parent="PurchaseOrderSet", nav="PurchaseOrderLineArray",
    auto_key="LineNo", required=("BuyQtyDue", "BuyUnitPrice"), defaults=(("ReleaseNo", "1"),),
    inherit=("Contract", "VendorNo", "CurrencyCode", "TaxCode"),
)  # fmt: skip
PROPOSAL_STATES = ("Balanced", "AwaitAuth", "Authorized", "Posted", "Cancelled")
POSTING_PROPOSALS = EntitySet(
    "PostingProposalSet", "PostingProposal", "PostingProposalHead", ("Company", "ProposalId"),
    (
        _s("Company", 20), _n("ProposalId"), _date("VoucherDate"), _s("VoucherType", 3),
        _state("PostingProposalState", PROPOSAL_STATES), _s("Text", 200), _s("Reference", 50),
    ),
    indexed=("Reference",), ranged=("VoucherDate",), auto_key="ProposalId",
    required=("VoucherDate", "VoucherType"),
)  # fmt: skip
CODE_PARTS = tuple(f"Code{c}" for c in "BCDEFGHIJ")
_GL_ROW = (
    _s("Account", 20),
    *(_s(code, 20) for code in CODE_PARTS),
    _n("CurrencyDebetAmount"),
    _n("CurrencyCreditAmount"),
    _n("DebetAmount"),
    _n("CreditAmount"),
    _s("CurrencyCode", 3),
)
POSTING_PROPOSAL_LINES = EntitySet(
    "PostingProposalLineSet", "PostingProposalLine", "PostingProposalLine",
    ("Company", "ProposalId", "RowNo"),
    (
        _s("Company", 20), _n("ProposalId"), _n("RowNo"), *_GL_ROW,
        _s("PartyType", 20), _s("PartyTypeId", 20), _s("Text", 200),
    ),
    indexed=("ProposalId",), parent="PostingProposalSet", nav="PostingProposalLineArray",
    auto_key="RowNo", required=("Account",),
)  # fmt: skip
EXTERNAL_VOUCHER_STATES = ("Loaded", "Checked", "Created")
EXTERNAL_VOUCHERS = EntitySet(
    "ExternalVoucherSet", "ExternalVoucher", "ExtLoadInfo", ("Company", "LoadId"),
    (
        _s("Company", 20), _s("LoadId", 20), _date("VoucherDate"), _s("VoucherType", 3),
        _s("Text", 200), _s("Reference", 50),
        _state("ExternalVoucherState", EXTERNAL_VOUCHER_STATES),
    ),
    indexed=("Reference",), ranged=("VoucherDate",), auto_key="LoadId",
    required=("VoucherDate", "VoucherType"),
    actions=("Check", "CreateVoucher"),
)  # fmt: skip
EXTERNAL_VOUCHER_ROWS = EntitySet(
    "ExternalVoucherRowSet", "ExternalVoucherRow", "ExtTransactions",
    ("Company", "LoadId", "RowNo"),
    (
        _s("Company", 20), _s("LoadId", 20), _n("RowNo"), *_GL_ROW, _s("Text", 200),
        _s("Reference", 50),
    ),
    indexed=("LoadId",), parent="ExternalVoucherSet", nav="ExternalVoucherRowArray",
    auto_key="RowNo", required=("Account",),
)  # fmt: skip
HISTORY_TYPES = ("Insert", "Update", "Delete")
HISTORY_LOG = EntitySet(
    "HistoryLogOverviewSet", "HistoryLogOverview", "HistoryLog", ("LogId",),
    (
        _n("LogId"), _s("LuName", 30), _s("TableName", 30), _s("Keys", 600),
        _s("HistoryType", 10), Property("TimeStamp", DATETIME), _s("Username", 30),
    ),
    indexed=("LuName",), ranged=("LogId", "TimeStamp"), read_only=True,
)  # fmt: skip

ACCOUNTS = EntitySet(
    "AccountSet", "Account", "Account", ("Company", "Account"),
    (
        _s("Company", 20), _s("Account", 20), _s("Description", 100),
        _s("AccntType", 20), _s("LogicalAccountType", 20),
        _state("AccountState", ("Active", "Blocked")),
    ),
    read_only=True,
)  # fmt: skip
"""The company's chart of accounts, as IFS's Accounts projection lists it [U]; a
Blocked account takes no postings [U]."""
SUPPLIERS = EntitySet(
    "SupplierSet", "Supplier", "SupplierInfo", ("VendorNo",),
    (
        _s("VendorNo", 20), _s("Name", 100), _s("Country", 2),
        _state("SupplierState", ("Active", "Blocked")),
    ),
    read_only=True,
)  # fmt: skip
"""The suppliers, as a supplier projection lists them [U]: no published projection
name is confirmed, hence the setting in `mappings suggest`."""
TAX_CODES = EntitySet(
    "TaxCodeSet", "TaxCode", "StatutoryFee", ("Company", "FeeCode"),
    (
        _s("Company", 20), _s("FeeCode", 20), _s("Description", 100), _n("FeeRate"),
        _state("StatutoryFeeState", ("Active", "Invalid")),
    ),
    read_only=True,
)  # fmt: skip
"""The company's tax codes with their rate in percent, as IFS's statutory fees [U]."""
SITES = EntitySet(
    "CompanySiteSet", "CompanySite", "Site", ("Contract",),
    (
        _s("Contract", 5), _s("Description", 35), _s("Company", 20), _s("Address1", 100),
        _s("City", 35), _s("State", 35), _s("ZipCode", 35), _s("Country", 2),
    ),
    read_only=True,
)  # fmt: skip
"""The company's sites with their delivery address [U: name and address fields not
confirmed on a tenant]."""
PARTS = EntitySet(
    "PartCatalogSet", "PartCatalog", "PartCatalog", ("PartNo",),
    (_s("PartNo", 25), _s("Description", 200), _s("UnitCode", 30)),
    read_only=True,
)  # fmt: skip
"""The part catalogue, every site's parts [U]."""
CODE_PART_VALUES = EntitySet(
    "AccountingCodePartValueSet", "AccountingCodePartValue", "AccountingCodePartValue",
    ("Company", "CodePart", "CodePartValue"),
    (
        _s("Company", 20), _s("CodePart", 1), _s("CodePartValue", 20), _s("Description", 100),
        _date("ValidFrom"), _date("ValidUntil"),
    ),
    read_only=True,
)  # fmt: skip
"""The values of the company's code parts (B, C, ...; the cost centre's among them),
as IFS's ACCOUNTING_CODE_PART_VALUE lists them [U: projection name not confirmed]."""

SETS: dict[str, EntitySet] = {
    s.name: s
    for s in (
        PURCHASE_ORDERS,
        PURCHASE_ORDER_LINES,
        POSTING_PROPOSALS,
        POSTING_PROPOSAL_LINES,
        EXTERNAL_VOUCHERS,
        EXTERNAL_VOUCHER_ROWS,
        HISTORY_LOG,
        ACCOUNTS,
        SUPPLIERS,
        TAX_CODES,
        SITES,
        PARTS,
        CODE_PART_VALUES,
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

    def children(self, eset: EntitySet) -> tuple[EntitySet, ...]:
        """The sets of this service reachable from `eset` by a navigation property."""
        return tuple(s for s in self.sets if s.parent == eset.name and s.nav)

    def child(self, eset: EntitySet, nav: str) -> EntitySet | None:
        return next((s for s in self.children(eset) if s.nav == nav), None)

    def action(self, eset: EntitySet, name: str) -> str | None:
        """The action named by `IfsApp.{P}.{Entity}_{Action}`, if `eset` has it."""
        prefix = f"{self.namespace}.{eset.entity}_"
        action = name[len(prefix) :] if name.startswith(prefix) else None
        return action if action in eset.actions else None


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
        Service("projection", "HistoryLogHandling", (HISTORY_LOG,)),
        Service("projection", "AccountsHandling", (ACCOUNTS,)),
        Service("projection", "SupplierHandling", (SUPPLIERS,)),
        Service("projection", "TaxCodesHandling", (TAX_CODES,)),
        Service("projection", "CompanySiteHandling", (SITES,)),
        Service("projection", "PartCatalogHandling", (PARTS,)),
        Service("projection", "AccountingCodePartValueHandling", (CODE_PART_VALUES,)),
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
