"""Master data of both systems as `mappings suggest` compares it.

Each system's master lists (`LISTS`: IFS suppliers, accounts, tax codes, sites, parts
and cost centres; ServiceTitan vendors, GL accounts, tax zones, business units,
inventory locations, SKUs and purchase-order types) are read as flat rows of the
columns `LISTS` names, from the systems (`LiveMaster`) or from one JSON or CSV file
per list (`FileMaster`, offline, no credentials), then turned into `Record`s the same
way. `PAIRINGS` says, per mapping table, which list is its source side and which its
target side, and how a target becomes the mapping entry's value."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from connector_dagster.engine.session import Session
from connector_dagster.lib.errors import ApiError
from connector_dagster.lib.mapping import Mappings
from connector_dagster.lib.master import PLACE, Record
from connector_dagster.lib.numbers import decimal_or_none
from connector_dagster.lib.settings import ConfigError
from connector_dagster.onboarding.probe import api_text
from connector_dagster.systems.ifs import odata

SUPPLIERS_SET = "SupplierHandling.svc/SupplierSet"
"""Where IFS lists suppliers ([U]: not confirmed on a real tenant)."""
ACCOUNTS_SET = "AccountsHandling.svc/AccountSet"
"""Where IFS lists the company's accounts when no flow's `accounts_set` says ([U])."""
TAX_CODES_SET = "TaxCodesHandling.svc/TaxCodeSet"
"""Where IFS lists the company's tax codes and their rates in percent ([U])."""
SITES_SET = "CompanySiteHandling.svc/CompanySiteSet"
"""Where IFS lists the company's sites with their delivery address ([U])."""
PARTS_SET = "PartCatalogHandling.svc/PartCatalogSet"
"""Where IFS lists the part catalogue ([U])."""
CODE_PART_VALUES_SET = "AccountingCodePartValueHandling.svc/AccountingCodePartValueSet"
"""Where IFS lists the values of a code part, the cost centre's among them ([U])."""
BY_ADDRESS = 0.8
"""The confidence of what rests on an address (as `suggest` rates it)."""
COST_CENTRE_PART = "CodeB"
"""The cost centre's code part when no flow's `cost_centre_part` says."""

LISTS: dict[str, tuple[str, ...]] = {
    "ifs_suppliers": ("code", "name", "active"),
    "ifs_accounts": ("code", "name"),
    "ifs_tax_codes": ("code", "name", "rate", "active"),
    "ifs_sites": ("code", "name", "street", "city", "state", "zip"),
    "ifs_parts": ("code", "name", "active"),
    "ifs_cost_centres": ("code", "name", "company", "active"),
    "st_vendors": ("id", "name", "active"),
    "st_gl_accounts": ("id", "number", "name", "active", "default_account_type"),
    "st_tax_zones": ("id", "name", "rate", "active"),
    "st_business_units": ("id", "name", "account_code", "active", "street", "unit", "city",
                          "state", "zip", "country"),
    "st_inventory_locations": ("id", "name", "active", "street", "unit", "city", "state", "zip",
                               "country"),
    "st_skus": ("id", "code", "name", "active"),
    "st_po_types": ("id", "name", "active"),
}  # fmt: skip
"""Master list -> its columns (the file `<list>.json` or `<list>.csv` has them; only
`code`/`id` and `name` are required; `active` is true unless it says false/no/0;
`rate` is in percent, 9.25)."""


class Master:
    """Both systems' master lists as records, each read once."""

    def __init__(self, company: str | None) -> None:
        self.company = company
        self._records: dict[str, list[Record] | None] = {}

    def rows(self, name: str) -> list[dict[str, Any]] | None:
        """The list's flat rows (`LISTS[name]` columns), or None when it is not at hand."""
        raise NotImplementedError

    def where(self, name: str) -> str:
        """Where the list is read from, for messages."""
        raise NotImplementedError

    def has(self, name: str) -> bool:
        return self.records_or_none(name) is not None

    def records(self, name: str) -> list[Record]:
        return self.records_or_none(name) or []

    def records_or_none(self, name: str) -> list[Record] | None:
        if name not in self._records:
            rows = self.rows(name)
            self._records[name] = None if rows is None else self._build(name, rows)
        return self._records[name]

    def _build(self, name: str, rows: list[dict[str, Any]]) -> list[Record]:
        found = []
        for n, row in enumerate(rows, 1):
            try:
                found.append(BUILD[name](_Row(row), self))
            except ValueError as exc:
                key = row.get("code", row.get("id"))
                raise ConfigError(f"{self.where(name)} row {n} ({key!r}): {exc}") from None
        return found


class _Row:
    """A flat row read with its field named in every error."""

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row

    def text(self, col: str, required: bool = False) -> str:
        value = self.row.get(col)
        text = "" if value is None else str(value).strip()
        if required and not text:
            raise ValueError(f"{col} is empty")
        return text

    def whole(self, col: str) -> int:
        text = self.text(col, required=True)
        if not re.fullmatch(r"\d+", text) or int(text) < 1:
            raise ValueError(f"{col} {text!r} is not a positive whole number")
        return int(text)

    def active(self) -> bool:
        value = self.row.get("active")
        if value is None or isinstance(value, bool):
            return value is not False
        text = str(value).strip().casefold()
        if text in ("", "true", "yes", "y", "1", "active"):
            return True
        if text in ("false", "no", "n", "0", "inactive", "blocked"):
            return False
        raise ValueError(f"active {value!r} is not true or false")

    def percent(self, col: str = "rate") -> Decimal | None:
        text = self.text(col)
        if not text:
            return None
        try:
            rate = Decimal(text.rstrip("%").strip())
        except InvalidOperation:
            raise ValueError(f"{col} {text!r} is not a number (percent)") from None
        if not rate.is_finite() or not 0 <= rate < 100:
            raise ValueError(f"{col} {text!r} is not a percentage from 0 to 100")
        return (rate / 100).quantize(Decimal("0.0001"))

    def place(self) -> dict[str, str]:
        return {k: self.text(k) for k in PLACE if k in self.row}


def _ifs_supplier(r: _Row, master: Master) -> Record:
    return Record(r.text("code", True), r.text("name"), r.active())


def _ifs_account(r: _Row, master: Master) -> Record:
    code = r.text("code", True)
    return Record(code, r.text("name"), number=code, value=code)


def _ifs_tax_code(r: _Row, master: Master) -> Record:
    code = r.text("code", True)
    return Record(code, r.text("name"), r.active(), rate=r.percent(), value=code)


def _ifs_site(r: _Row, master: Master) -> Record:
    return Record(r.text("code", True), r.text("name"), place=r.place())


def _ifs_part(r: _Row, master: Master) -> Record:
    code = r.text("code", True)
    return Record(code, r.text("name"), r.active(), number=code, value=code)


def _ifs_cost_centre(r: _Row, master: Master) -> Record:
    code = r.text("code", True)
    company = r.text("company") or master.company
    if not company:
        raise ValueError("company is empty (and no connection names the IFS company)")
    value = {"company": company, "cost_centre": code}
    return Record(code, r.text("name"), r.active(), number=code, value=value)


def _st_record(r: _Row, **more: Any) -> Record:
    """A ServiceTitan record: its id is its code and the entry's value."""
    st_id = r.whole("id")
    return Record(str(st_id), r.text("name"), r.active(), value=st_id, **more)


def _st_vendor(r: _Row, master: Master) -> Record:
    return _st_record(r)


def _st_gl_account(r: _Row, master: Master) -> Record:
    return _st_record(r, number=r.text("number"), kind=r.text("default_account_type"))


def _st_tax_zone(r: _Row, master: Master) -> Record:
    zone, rate = r.whole("id"), r.percent()
    value = {"tax_zone_id": zone, "rate": str(rate) if rate is not None else None}
    return Record(str(zone), r.text("name"), r.active(), value=value, rate=rate)


def _st_business_unit(r: _Row, master: Master) -> Record:
    return _st_record(r, number=r.text("account_code"), place=r.place())


def _st_inventory_location(r: _Row, master: Master) -> Record:
    return _st_record(r, place=r.place())


def _st_sku(r: _Row, master: Master) -> Record:
    return _st_record(r, number=r.text("code"))


def _st_po_type(r: _Row, master: Master) -> Record:
    return _st_record(r)


BUILD: dict[str, Callable[[_Row, Master], Record]] = {
    "ifs_suppliers": _ifs_supplier,
    "ifs_accounts": _ifs_account,
    "ifs_tax_codes": _ifs_tax_code,
    "ifs_sites": _ifs_site,
    "ifs_parts": _ifs_part,
    "ifs_cost_centres": _ifs_cost_centre,
    "st_vendors": _st_vendor,
    "st_gl_accounts": _st_gl_account,
    "st_tax_zones": _st_tax_zone,
    "st_business_units": _st_business_unit,
    "st_inventory_locations": _st_inventory_location,
    "st_skus": _st_sku,
    "st_po_types": _st_po_type,
}
"""A flat row of each list -> its record."""


# -- read from the systems ---------------------------------------------------------------


def flow_setting(session: Session, name: str, default: str) -> str:
    """A setting some flows have (`accounts_set`): an enabled flow's value, else any
    flow's, else `default`."""
    flows = sorted(session.connection.flows.items(), key=lambda f: (not f[1].enabled, f[0]))
    return next((str(getattr(s, name)) for _, s in flows if hasattr(s, name)), default)


def _ifs_rows(session: Session, entity_set: str, fields: list[str], keys: tuple[str, ...],
              filter: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
    return list(session.client("ifs").query(entity_set, filter=filter, select=fields, keys=keys))


def _company(session: Session) -> str:
    return odata.eq("Company", session.connection.system("ifs").company)


def _live_ifs_suppliers(session: Session) -> list[dict[str, Any]]:
    rows = _ifs_rows(session, SUPPLIERS_SET, ["VendorNo", "Name", "Objstate"], ("VendorNo",))
    return [{"code": r["VendorNo"], "name": r["Name"], "active": r.get("Objstate") != "Blocked"}
            for r in rows]  # fmt: skip


def _live_ifs_accounts(session: Session) -> list[dict[str, Any]]:
    entity_set = flow_setting(session, "accounts_set", ACCOUNTS_SET)
    rows = _ifs_rows(session, entity_set, ["Company", "Account", "Description"],
                     ("Company", "Account"), _company(session))  # fmt: skip
    return [{"code": r["Account"], "name": r["Description"]} for r in rows]


def _live_ifs_tax_codes(session: Session) -> list[dict[str, Any]]:
    rows = _ifs_rows(session, TAX_CODES_SET, ["Company", "FeeCode", "Description", "FeeRate",
                     "Objstate"], ("Company", "FeeCode"), _company(session))  # fmt: skip
    return [{"code": r["FeeCode"], "name": r["Description"], "rate": r.get("FeeRate"),
             "active": r.get("Objstate") == "Active"} for r in rows]  # fmt: skip


def _live_ifs_sites(session: Session) -> list[dict[str, Any]]:
    fields = ["Contract", "Description", "Company", "Address1", "City", "State", "ZipCode"]
    rows = _ifs_rows(session, SITES_SET, fields, ("Contract",), _company(session))
    return [{"code": r["Contract"], "name": r["Description"], "street": r.get("Address1"),
             "city": r.get("City"), "state": r.get("State"), "zip": r.get("ZipCode")}
            for r in rows]  # fmt: skip


def _live_ifs_parts(session: Session) -> list[dict[str, Any]]:
    rows = _ifs_rows(session, PARTS_SET, ["PartNo", "Description"], ("PartNo",))
    return [{"code": r["PartNo"], "name": r["Description"]} for r in rows]


def _live_ifs_cost_centres(session: Session) -> list[dict[str, Any]]:
    part = flow_setting(session, "cost_centre_part", COST_CENTRE_PART).removeprefix("Code")
    today = date.today().isoformat()
    rows = _ifs_rows(
        session, CODE_PART_VALUES_SET,
        ["Company", "CodePart", "CodePartValue", "Description", "ValidUntil"],
        ("Company", "CodePart", "CodePartValue"),
        odata.and_(_company(session), odata.eq("CodePart", part)),
    )  # fmt: skip
    return [{"code": r["CodePartValue"], "name": r["Description"], "company": r["Company"],
             "active": not r.get("ValidUntil") or str(r["ValidUntil"]) >= today}
            for r in rows]  # fmt: skip


def _st(session: Session, module: str, path: str) -> list[dict[str, Any]]:
    return list(session.client("servicetitan").iter_pages(module, path, {"active": "Any"}))


def _flat_place(address: dict[str, Any] | None) -> dict[str, Any]:
    return {k: (address or {}).get(k) for k in PLACE}


def _live_st_vendors(session: Session) -> list[dict[str, Any]]:
    return [{"id": r["id"], "name": r["name"], "active": bool(r["active"])}
            for r in _st(session, "inventory", "vendors")]  # fmt: skip


def _live_st_gl_accounts(session: Session) -> list[dict[str, Any]]:
    return [{"id": r["id"], "number": r.get("number"), "name": r["name"],
             "active": bool(r["active"]), "default_account_type": r.get("defaultAccountType")}
            for r in _st(session, "accounting", "gl-accounts")]  # fmt: skip


def _live_st_tax_zones(session: Session) -> list[dict[str, Any]]:
    """Tax zones with one rate (a zone of several rates is matched by name only)."""
    found = []
    for zone in _st(session, "accounting", "tax-zones"):
        rates = {decimal_or_none(r.get("taxRate")) for r in zone.get("rates") or []}
        rate = rates.pop() if len(rates) == 1 else None
        found.append({"id": zone["id"], "name": zone.get("name"),
                      "rate": rate * 100 if rate is not None else None,
                      "active": bool(zone.get("active", True))})  # fmt: skip
    return found


def _live_st_business_units(session: Session) -> list[dict[str, Any]]:
    return [{"id": r["id"], "name": r.get("name"), "account_code": r.get("accountCode"),
             "active": bool(r.get("active", True)), **_flat_place(r.get("address"))}
            for r in _st(session, "settings", "business-units")]  # fmt: skip


def _live_st_inventory_locations(session: Session) -> list[dict[str, Any]]:
    return [{"id": r["id"], "name": r.get("name"), "active": bool(r.get("active", True)),
             **_flat_place(r.get("address"))}
            for r in _st(session, "inventory", "warehouses")]  # fmt: skip


def _live_st_skus(session: Session) -> list[dict[str, Any]]:
    """Material and equipment SKUs (what a purchase order buys) [I: pricebook fields]."""
    rows = [r for kind in ("materials", "equipment") for r in _st(session, "pricebook", kind)]
    return [{"id": r["id"], "code": r.get("code"), "active": bool(r.get("active", True)),
             "name": r.get("displayName") or r.get("code")} for r in rows]  # fmt: skip


def _live_st_po_types(session: Session) -> list[dict[str, Any]]:
    return [{"id": r["id"], "name": r.get("name"), "active": bool(r.get("active", True))}
            for r in _st(session, "inventory", "purchase-order-types")]  # fmt: skip


LIVE: dict[str, Callable[[Session], list[dict[str, Any]]]] = {
    name: globals()[f"_live_{name}"] for name in LISTS
}


class LiveMaster(Master):
    """The master lists read from the connection's systems (read-only)."""

    def __init__(self, session: Session) -> None:
        super().__init__(session.connection.system("ifs").company)
        self.session = session

    def rows(self, name: str) -> list[dict[str, Any]]:
        try:
            return LIVE[name](self.session)
        except ApiError as exc:
            raise ConfigError(
                f"{self.where(name)}: {exc.status or 'no answer'}, {api_text(exc)}; "
                f"`connector-dagster check --connection {self.session.name}` names the setting "
                "or permission to fix"
            ) from None

    def where(self, name: str) -> str:
        return f"connection {self.session.name}, {name}"


class FileMaster(Master):
    """The master lists read from a folder: `<list>.json` (a list of objects) or
    `<list>.csv` (a header row of `LISTS` columns), one per list; a list without a
    file is not at hand, and the tables that need it get no suggestions."""

    def __init__(self, folder: str | Path, company: str | None = None) -> None:
        super().__init__(company)
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ConfigError(f"master data folder {self.folder} does not exist")

    def file(self, name: str) -> Path | None:
        found = [p for p in (self.folder / f"{name}.json", self.folder / f"{name}.csv")
                 if p.is_file()]  # fmt: skip
        if len(found) > 1:
            raise ConfigError(f"master data: both {found[0]} and {found[1]}; keep one")
        return found[0] if found else None

    def where(self, name: str) -> str:
        return str(self.file(name) or self.folder / name)

    def rows(self, name: str) -> list[dict[str, Any]] | None:
        path = self.file(name)
        if path is None:
            return None
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"master data {path} cannot be read ({exc})") from None
        if path.suffix == ".csv":
            reader = csv.DictReader(text.splitlines())
            missing = [c for c in ("name", LISTS[name][0]) if c not in (reader.fieldnames or [])]
            if missing:
                raise ConfigError(f"master data {path}: no column {', '.join(missing)} in its "
                                  f"header (columns: {', '.join(LISTS[name])})")  # fmt: skip
            return list(reader)
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"master data {path} is not valid JSON: {exc}") from None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ConfigError(f"master data {path} must be a JSON list of objects "
                              f"(keys: {', '.join(LISTS[name])})")  # fmt: skip
        return rows


# -- which lists pair up for each mapping table --------------------------------------------


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


@dataclass(frozen=True)
class Pairing:
    """A mapping table, the master list of its source side and of its target side."""

    table: str
    source: str
    target: str
    source_title: str
    target_title: str
    targets: Callable[[Master, Mappings], list[Record]] | None = None
    """The target records with their entry values, when more than the target list
    makes an entry (a site's business unit, a tax code's account)."""
    identity: Callable[[Any], str] = _json
    """What one entry's value points at, so two entries never point at the same."""
    strict_numbers: bool = True
    """A name match whose numbers differ is ambiguous (else only when the target's
    number is another source record's code: SKU codes need not be part numbers)."""
    needs: tuple[str, ...] = ()
    """More lists the target's value is made from."""

    def lists(self) -> tuple[str, ...]:
        return tuple(n for n in (self.source, self.target, *self.needs) if n)


def site_targets(master: Master, maps: Mappings) -> list[Record]:
    """Inventory locations with the one active business unit at the same address."""
    units = [u for u in master.records("st_business_units") if u.active and u.address]
    found = []
    for loc in master.records("st_inventory_locations"):
        there = [u for u in units if u.address == loc.address] if loc.address else []
        if len(there) != 1:
            said = ", ".join(u.label() for u in there)
            problem = (f"business units {said} at its address" if there else
                       "no active business unit at its address")  # fmt: skip
            found.append(replace(loc, value=None, problem=problem))
            continue
        ship_to = {"description": loc.name, **{k: loc.place.get(k, "") or "" for k in PLACE}}
        value = {"business_unit_id": there[0].value, "inventory_location_id": loc.value,
                 "ship_to": ship_to}  # fmt: skip
        note = f"business unit {there[0].label()} at the same address"
        found.append(replace(loc, value=value, note=note, cap=BY_ADDRESS))
    return found


def tax_code_targets(master: Master, maps: Mappings) -> list[Record]:
    """IFS tax codes with the IFS account ServiceTitan's sales tax payable account maps
    to (its `ifs_accounts` entry, else the IFS account with its number)."""
    payable = [a for a in master.records("st_gl_accounts")
               if a.active and a.kind == "SalesTaxPayable"]  # fmt: skip
    account, note, problem = None, "", ""
    if len(payable) != 1:
        problem = (
            "ServiceTitan has "
            + (f"{len(payable)} active" if payable else "no active")
            + " GL account(s) of default type SalesTaxPayable, for the sales tax account"
        )
    else:
        st = payable[0]
        account = maps.table("ifs_accounts").get(st.code)
        if account is not None:
            note = f"sales tax to {account}, as ifs_accounts maps {st.label()}"
        elif st.number and st.number in {a.code for a in master.records("ifs_accounts")}:
            account = st.number
            note = f"sales tax to {account}, the number of sales tax payable {st.label()}"
        else:
            problem = f"no IFS account for ServiceTitan's sales tax payable {st.label()}"
    return [
        replace(t, value={"tax_code": t.code, "account": account}, note=note)
        if account is not None
        else replace(t, value=None, problem=problem)
        for t in master.records("ifs_tax_codes")
    ]


def _id_of(key: str) -> Callable[[Any], str]:
    return lambda value: str(value[key]) if isinstance(value, dict) else _json(value)


PAIRINGS: dict[str, Pairing] = {
    p.table: p
    for p in (
        Pairing("vendors", "ifs_suppliers", "st_vendors", "IFS supplier", "ServiceTitan vendor"),
        Pairing("gl_accounts", "ifs_accounts", "st_gl_accounts", "IFS account",
                "ServiceTitan GL account"),
        Pairing("ifs_accounts", "st_gl_accounts", "ifs_accounts", "ServiceTitan GL account",
                "IFS account"),
        Pairing("tax_codes", "ifs_tax_codes", "st_tax_zones", "IFS tax code",
                "ServiceTitan tax zone", identity=_id_of("tax_zone_id")),
        Pairing("ifs_tax_codes", "st_tax_zones", "ifs_tax_codes", "ServiceTitan tax zone",
                "IFS tax code", tax_code_targets, _id_of("tax_code"),
                needs=("st_gl_accounts", "ifs_accounts")),
        Pairing("sites", "ifs_sites", "st_inventory_locations", "IFS site",
                "ServiceTitan inventory location", site_targets,
                _id_of("inventory_location_id"), needs=("st_business_units",)),
        Pairing("parts", "ifs_parts", "st_skus", "IFS part", "ServiceTitan SKU",
                strict_numbers=False),
        Pairing("cost_centres", "ifs_cost_centres", "st_business_units", "IFS cost centre",
                "ServiceTitan business unit"),
        Pairing("business_units", "st_business_units", "ifs_cost_centres",
                "ServiceTitan business unit", "IFS cost centre", identity=_id_of("cost_centre")),
        Pairing("po_types", "", "st_po_types", "IFS purchase orders",
                "ServiceTitan purchase-order type"),
    )
}  # fmt: skip
"""Every mapping table `suggest` fills. `po_types` has one source record, `default`."""


def sources(pairing: Pairing, master: Master) -> list[Record]:
    if not pairing.source:
        return [Record("default", "every IFS purchase order")]
    return master.records(pairing.source)


def targets(pairing: Pairing, master: Master, maps: Mappings) -> list[Record]:
    if pairing.targets is not None:
        return pairing.targets(master, maps)
    return master.records(pairing.target)


def missing_lists(pairing: Pairing, master: Master) -> list[str]:
    return [n for n in pairing.lists() if not master.has(n)]


def columns_doc(names: Iterable[str] = LISTS) -> str:
    """`ifs_suppliers: code, name, active` per list, for help texts."""
    return "; ".join(f"{n}: {', '.join(LISTS[n])}" for n in names)
