"""ServiceTitan accounting API, GL accounts: list, get, create (`201`, source
PublicApi), partial update, and the account types with their subtypes.

Rules where the spec is silent (it lists every request field as optional and
documents 400, 404 and 409): a new account needs a `name`, a `number` and a
`type` named by `GET gl-accounts/types` (a type has no `parentTypeId`); a
`subtype` must be a subtype of that type; a `number` or `name` already used by
another account, active or not, is a 409 naming it."""

from __future__ import annotations

from typing import Any

from connector_dagster.sandbox.servicetitan.body import Field, require_valid
from connector_dagster.sandbox.servicetitan.common import (
    ApiError,
    Row,
    bad_request,
    not_found,
)
from connector_dagster.sandbox.servicetitan.query import (
    STANDARD_DATES,
    STANDARD_SORTS,
    F,
    page,
    select,
    sort_rows,
)
from connector_dagster.sandbox.servicetitan.refdata import CREATED, MODIFIED
from connector_dagster.sandbox.servicetitan.references import stamped
from connector_dagster.sandbox.servicetitan.store import Call, Created

_TEXT = ("name", "number", "description", "type", "subtype")
CREATE = {name: Field("str", nullable=True) for name in _TEXT}
UPDATE = {**CREATE, "active": Field("bool", nullable=True)}
# (id, name, parent type id, active): the account types, then their subtypes.
TYPE_TREE = (
    *(
        (n, name, None, True)
        for n, name in enumerate(
            (
                "Bank",
                "AccountsReceivable",
                "OtherCurrentAsset",
                "FixedAsset",
                "OtherAsset",
                "AccountsPayable",
                "CreditCard",
                "OtherCurrentLiability",
                "LongTermLiability",
                "Equity",
                "Income",
                "CostOfGoodsSold",
                "Expense",
                "OtherIncome",
                "OtherExpense",
            ),
            1,
        )
    ),
    (101, "CheckingAccount", 1, True),
    (102, "AccountsReceivable", 2, True),
    (103, "Inventory", 3, True),
    (104, "UndepositedFunds", 3, True),
    (105, "AccountsPayable", 6, True),
    (106, "SalesTaxPayable", 8, True),
    (107, "CustomerDeposits", 8, True),
    (108, "RetainedEarnings", 10, True),
    (109, "Revenue", 11, True),
    (110, "MembershipRevenue", 11, True),
    (111, "CostOfGoodsSoldMaterials", 12, True),
    (112, "CostOfGoodsSoldEquipment", 12, True),
    (113, "CostOfGoodsSoldLabor", 12, True),
    (114, "Expense", 13, True),
    (115, "Suspense", 15, False),
)
TYPES: dict[int, Row] = {
    type_id: {
        "id": type_id,
        "parentTypeId": parent,
        "name": name,
        "active": active,
        "createdOn": CREATED,
        "modifiedOn": MODIFIED,
    }
    for type_id, name, parent, active in TYPE_TREE
}
_TYPE_IDS = {r["name"].lower(): r["id"] for r in TYPES.values() if r["parentTypeId"] is None}
_ACTIVE = F("active", "active", lambda r: r["active"])


def list_gl_accounts(c: Call) -> Row:
    filters = (
        *STANDARD_DATES,
        _ACTIVE,
        F("names", "anyi", lambda r: r["name"]),
        F("numbers", "anyi", lambda r: r["number"]),
        F("types", "anyi", lambda r: r["type"]),
        F("subtypes", "anyi", lambda r: r["subtype"]),
        F("description", "contains", lambda r: r["description"]),
        F("source", "anyi", lambda r: r["source"]),
        F("isIntacctGroup", "bool", lambda r: r["isIntacctGroup"]),
        F("isIntacctBankAccount", "bool", lambda r: r["isIntacctBankAccount"]),
    )
    rows = select(c.store.tables["gl-accounts"], c.q, filters)
    return page(sort_rows(rows, c.q, STANDARD_SORTS), c.q, stamped, c.page_max)


def _account(c: Call) -> Row:
    account_id = c.path_int("accountId", "GL account")
    account = c.store.tables["gl-accounts"].get(account_id)
    if account is None:
        raise not_found(f"GL account {account_id}")
    return account


def get_gl_account(c: Call) -> Row:
    return stamped(_account(c))


def list_types(c: Call) -> Row:
    filters = (*STANDARD_DATES, _ACTIVE, F("names", "anyi", lambda r: r["name"]))
    rows = sort_rows(select(TYPES, c.q, filters), c.q, STANDARD_SORTS)
    return page(rows, c.q, stamped, c.page_max)


def _checked(c: Call, account: Row) -> Row:
    """`account` (the request applied to a copy) once its fields hold together."""
    for name in ("name", "number", "type"):
        if not (account.get(name) or "").strip():
            raise bad_request(name, f"The {name} field is required.")
        account[name] = account[name].strip()
    type_id = _TYPE_IDS.get(account["type"].lower())
    if type_id is None:
        raise bad_request(
            "type",
            f"'{account['type']}' is not a GL account type. Types: {', '.join(_TYPE_IDS)}.",
        )
    account["type"] = TYPES[type_id]["name"]
    if account.get("subtype"):
        subtypes = {
            r["name"].lower(): r["name"]
            for r in TYPES.values()
            if r["parentTypeId"] == type_id and r["active"]
        }
        if account["subtype"].lower() not in subtypes:
            raise bad_request(
                "subtype",
                f"'{account['subtype']}' is not a subtype of {account['type']}. "
                f"Subtypes: {', '.join(subtypes.values()) or 'none'}.",
            )
        account["subtype"] = subtypes[account["subtype"].lower()]
    for name in ("number", "name"):
        wanted = account[name].lower()
        for other in c.store.tables["gl-accounts"].values():
            if other["id"] != account.get("id") and (other[name] or "").lower() == wanted:
                raise ApiError(
                    409,
                    f"A GL account with this {name} already exists.",
                    {name: [f"GL account {other['id']} already has {name} '{other[name]}'."]},
                )
    return account


def create_gl_account(c: Call) -> Created:
    body = require_valid(c.body, CREATE)
    fields = _checked(c, {name: body.get(name) for name in _TEXT})
    account = {
        "id": c.store.next_id("gl-account"),
        **fields,
        "active": True,
        "isIntacctGroup": False,
        "isIntacctBankAccount": False,
        "source": "PublicApi",
        "defaultAccountType": None,
        "createdOn": None,
    }
    c.store.touch("gl-accounts", account)
    account["createdOn"] = account["modifiedOn"]
    return Created(stamped(account))


def update_gl_account(c: Call) -> Row:
    account = _account(c)
    body: dict[str, Any] = require_valid(c.body, UPDATE)
    changes = {k: v for k, v in body.items() if v is not None}
    checked = _checked(c, {**account, **changes})
    account.update(checked)
    c.store.touch("gl-accounts", account)
    return stamped(account)


ROUTES = (
    ("GET", "accounting", "gl-accounts", list_gl_accounts),
    ("POST", "accounting", "gl-accounts", create_gl_account),
    ("GET", "accounting", "gl-accounts/types", list_types),
    ("GET", "accounting", "gl-accounts/{accountId}", get_gl_account),
    ("PATCH", "accounting", "gl-accounts/{accountId}", update_gl_account),
)
