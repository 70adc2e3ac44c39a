"""Journal entries of the ServiceTitan simulator: request schemas, validation of
lines (balanced, known references, open periods), versioning, and the response
shapes of entries, detail lines and summaries."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from connector_dagster.sandbox.servicetitan.body import Field
from connector_dagster.sandbox.servicetitan.common import (
    DECIMAL_MAX,
    ApiError,
    Row,
    bad_request,
    cents,
    dec,
    fits,
    fmt_date,
    fmt_ts,
    num,
    parse_us,
)
from connector_dagster.sandbox.servicetitan.references import named
from connector_dagster.sandbox.servicetitan.store import Call, Store

POSTING_STATUSES = ("Open", "Closed")


SYNC_STATUSES = ("NotSynced", "InProgress", "Synced", "OutOfSync", "Error", "Excluded")


TRANSACTION_TYPES = (
    "Unspecified",
    "Invoice",
    "Payment",
    "Bill",
    "VendorCredit",
    "VendorPayment",
    "InventoryAdjustment",
    "PaymentApplication",
    "BankDeposit",
    "InventoryReturn",
    "InventoryTransfer",
    "RevenueRecognition",
    "Estimate",
    "PurchaseOrder",
    "Receipt",
    "GrossPayItem",
    "PayrollPeriod",
    "Manual",
    "ItemConsumption",
    "External",
    "CreditMemo",
    "CreditMemoApplication",
)


SKU_TYPES = ("Service", "Material", "Equipment", "PriceModifier", "Unspecified")


MAX_CUSTOM_FIELDS = 5


_OPTIONAL_IDS = (
    "accountId",
    "businessUnitId",
    "customerId",
    "vendorId",
    "inventoryLocationId",
    "jobId",
    "customerLocationId",
    "paymentTypeId",
    "projectId",
    "budgetCodeId",
    "employeeId",
    "serviceAgreementId",
)


_EXTERNAL_OBJECT = {k: Field("str", nullable=True) for k in ("id", "type", "name", "url")}


LINE = {
    "postDate": Field("date", nullable=True),
    "debit": Field("num", True),
    "credit": Field("num", True),
    "memo": Field("str", nullable=True),
    "quantity": Field("num", nullable=True),
    "unitAmount": Field("num", nullable=True),
    "externalObjects": Field("array", nullable=True, fields=_EXTERNAL_OBJECT),
    **{name: Field("int", nullable=True) for name in _OPTIONAL_IDS},
    "appliedTo": Field(
        "object",
        nullable=True,
        fields={
            "id": Field("int", True),
            "type": Field("enum", True, values=TRANSACTION_TYPES),
            "refNumber": Field("str", nullable=True),
        },
    ),
    "sku": Field(
        "object",
        nullable=True,
        fields={"id": Field("int", True), "type": Field("enum", True, values=SKU_TYPES)},
    ),
}


SAVE = {
    "name": Field("str", nullable=True),
    "status": Field("enum", True, values=POSTING_STATUSES),
    "versionId": Field("int", True),
    "message": Field("str", nullable=True),
    "postDate": Field("date", nullable=True),
    "customFields": Field("map", nullable=True),
    "lines": Field("array", nullable=True, fields=LINE),
}


UPDATE = {
    "status": Field("enum", values=POSTING_STATUSES),
    "customFields": Field("map", nullable=True),
}


SYNC = {
    "syncStatus": Field("enum", True, values=SYNC_STATUSES),
    "versionId": Field("int"),
    "message": Field("str"),
    "customFields": Field("map", nullable=True),
}


_REFS = (
    ("accountId", "gl-accounts", "GL account"),
    ("businessUnitId", "business-units", "Business unit"),
    ("vendorId", "vendors", "Vendor"),
    ("customerId", "customers", "Customer"),
    ("inventoryLocationId", "warehouses", "Inventory location"),
    ("jobId", "jobs", "Job"),
)


def guid(text: str) -> str:
    return str(uuid.UUID(text))


def render_je(je: Row) -> Row:
    return {
        "id": je["id"],
        "createdOn": fmt_ts(je["createdOn"]),
        "modifiedOn": fmt_ts(je["modifiedOn"]),
        "number": je["number"],
        "name": je["name"],
        "source": je["source"],
        "status": je["status"],
        "syncStatus": je["syncStatus"],
        "versionId": je["versionId"],
        "lastSyncVersionId": je["lastSyncVersionId"],
        "message": je["message"],
        "postDate": fmt_date(je["postDate"]),
        "exportedOn": fmt_ts(je["exportedOn"]),
        "exportedBy": je["exportedBy"],
        "customFields": [{"name": k, "value": v} for k, v in je["customFields"].items()],
        "url": f"https://go.servicetitan.com/#/Accounting/JournalEntry/{je['id']}",
        "isEmpty": not je["lines"],
    }


def account_ref(store: Store, account_id: int | None) -> Row:
    row = store.tables["gl-accounts"].get(account_id) or {}
    return {
        "id": account_id or 0,
        "number": row.get("number"),
        "name": row.get("name"),
        "type": row.get("type"),
        "subtype": row.get("subtype"),
    }


def numbered(key: int | None) -> Row | None:
    return None if key is None else {"id": key, "number": str(key)}


def render_detail(je: Row, line: Row, store: Store) -> Row:
    sku = line.get("sku")
    location = line.get("customerLocationId")
    payment = line.get("paymentTypeId")
    applied = line.get("appliedTo")
    sku_row = store.tables["skus"].get(sku["id"]) if sku else None
    post_date = fmt_date(line.get("postDate") or je["postDate"])
    return {
        "postDate": post_date,
        "account": account_ref(store, line["accountId"]),
        "debit": num(line["debit"]),
        "credit": num(line["credit"]),
        "memo": line.get("memo"),
        "quantity": num(line["quantity"]) if line.get("quantity") is not None else None,
        "unitAmount": num(line["unitAmount"]) if line.get("unitAmount") is not None else None,
        "externalObjects": [
            {k: o.get(k) for k in ("id", "type", "name", "url")}
            for o in line.get("externalObjects") or []
        ],
        "transaction": None,
        "businessUnit": named(store, "business-units", line.get("businessUnitId")),
        "customer": named(store, "customers", line.get("customerId")),
        "vendor": named(store, "vendors", line.get("vendorId")),
        "inventoryLocation": named(store, "warehouses", line.get("inventoryLocationId")),
        "job": numbered(line.get("jobId")),
        "customerLocation": None if location is None else {"id": location, "name": None},
        "paymentType": None if payment is None else {"id": payment, "name": None},
        "project": numbered(line.get("projectId")),
        "serviceAgreement": numbered(line.get("serviceAgreementId")),
        "appliedTo": None if applied is None else {"refNumber": None, **applied},
        "sku": None
        if sku is None
        else {"id": sku["id"], "type": sku["type"], "code": sku_row["code"] if sku_row else None},
        "transactionDate": post_date,
        "budgetCodeId": line.get("budgetCodeId"),
    }


def merge_custom_fields(je: Row, fields: dict[str, Any] | None) -> None:
    if not fields:
        return
    merged = {**je["customFields"], **fields}
    if len(merged) > MAX_CUSTOM_FIELDS:
        raise bad_request("customFields", f"At most {MAX_CUSTOM_FIELDS} custom fields.")
    je["customFields"] = merged


def checked_lines(c: Call, body: dict[str, Any]) -> list[Row]:
    """Validated, stored form of the request's lines: balanced, known and active
    references (periods are `journal_rules`' business)."""
    errors: dict[str, list[str]] = {}
    lines = body.get("lines") or []
    for n, line in enumerate(lines):
        if line.get("accountId") is None:
            errors[f"lines[{n}].accountId"] = ["The accountId field is required."]
        for name, table, what in _REFS:
            if line.get(name) is not None and line[name] not in c.store.tables[table]:
                errors[f"lines[{n}].{name}"] = [f"{what} {line[name]} does not exist."]
        account = c.store.tables["gl-accounts"].get(line.get("accountId"))
        if account is not None and not account["active"]:
            errors[f"lines[{n}].accountId"] = [
                f"GL account {account['number']} ({account['id']}) is inactive; "
                "reactivate it or post to another account."
            ]
        sku = line.get("sku")
        if sku is not None and sku["id"] not in c.store.tables["skus"]:
            errors[f"lines[{n}].sku.id"] = [f"Pricebook item {sku['id']} does not exist."]
        if line["debit"] < 0 or line["credit"] < 0:
            errors[f"lines[{n}]"] = ["Debit and credit cannot be negative."]
        for side in ("debit", "credit"):
            if dec(line[side]) != cents(dec(line[side])):
                errors[f"lines[{n}].{side}"] = [
                    f"{line[side]} has more than 2 decimal places; round it to cents."
                ]
    if errors:
        raise ApiError(400, "One or more validation errors occurred.", errors)
    debit = sum((dec(line["debit"]) for line in lines), Decimal(0))
    credit = sum((dec(line["credit"]) for line in lines), Decimal(0))
    if not (fits(debit) and fits(credit)):
        raise bad_request(
            "lines",
            f"Debits {debit} or credits {credit} exceed the largest amount, {DECIMAL_MAX}.",
            "Journal entry total is too large.",
        )
    if debit != credit:
        raise bad_request(
            "lines",
            f"Debits {debit} and credits {credit} differ.",
            "Journal entry is not balanced.",
        )
    return [
        {
            **line,
            "debit": dec(line["debit"]),
            "credit": dec(line["credit"]),
            "postDate": parse_us(line["postDate"]) if line.get("postDate") else None,
        }
        for line in lines
    ]


def bump(store: Store, je: Row) -> None:
    """A change of the entry's content: new version, and no longer in sync."""
    je["versionId"] += 1
    if je["syncStatus"] == "Synced":
        je["syncStatus"] = "OutOfSync"
    store.touch("journal-entries", je)
