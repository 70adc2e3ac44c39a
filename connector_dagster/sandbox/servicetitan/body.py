"""Request bodies of the ServiceTitan simulator: a small schema language after
the OpenAPI request schemas (required, nullable, types, no unknown properties),
answering 400 with the offending JSON paths."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from connector_dagster.sandbox.servicetitan.common import DECIMAL_MAX, TOO_LARGE, ApiError, parse_dt


@dataclass(frozen=True)
class Field:
    """The shape of one property of a request body, after the OpenAPI schema."""

    kind: str  # int | num | str | bool | datetime | date | enum | object | array | map
    required: bool = False
    nullable: bool = False
    fields: Mapping[str, Field] | None = None  # object, or array/map of objects
    values: tuple[str, ...] = ()  # enum
    items: str = ""  # array of scalars: their kind


_SCALARS: dict[str, Callable[[Any], bool]] = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "num": lambda v: isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v),
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
}


def _check_value(value: Any, f: Field, where: str, errors: dict[str, list[str]]) -> None:
    if value is None:
        if not f.nullable:
            errors.setdefault(where, []).append(f"The {where} field is required.")
        return
    if f.kind in _SCALARS:
        if not _SCALARS[f.kind](value):
            errors.setdefault(where, []).append(f"The JSON value is not a valid {f.kind}.")
        elif f.kind == "num" and abs(value) > DECIMAL_MAX:
            errors.setdefault(where, []).append(TOO_LARGE)
    elif f.kind in ("datetime", "date"):
        try:
            parse_dt(value)
        except ValueError:
            shown = f"'{value}'" if isinstance(value, str) else "The JSON value"
            errors.setdefault(where, []).append(f"{shown} is not a valid {f.kind}.")
    elif f.kind == "enum":
        if value not in f.values:
            errors.setdefault(where, []).append(f"Values: {', '.join(f.values)}.")
    elif f.kind == "object":
        errors.update(check_body(value, f.fields or {}, where))
    elif f.kind == "array":
        if not isinstance(value, list):
            errors.setdefault(where, []).append("The JSON value is not an array.")
            return
        element_field = Field(f.items or "object", fields=f.fields)
        for i, element in enumerate(value):
            _check_value(element, element_field, f"{where}[{i}]", errors)
    elif f.kind == "map" and not _is_string_map(value):
        errors.setdefault(where, []).append("Expected an object of strings.")


def _is_string_map(value: Any) -> bool:
    return isinstance(value, dict) and all(v is None or isinstance(v, str) for v in value.values())


def check_body(body: Any, schema: Mapping[str, Field], where: str = "") -> dict[str, list[str]]:
    """Errors of `body` against `schema` (required, types, no unknown properties),
    keyed by JSON path like `items[0].skuId`; empty when valid."""
    errors: dict[str, list[str]] = {}
    if not isinstance(body, dict):
        return {where or "body": ["A JSON object is required."]}
    prefix = f"{where}." if where else ""
    for name in body.keys() - schema.keys():
        errors[prefix + name] = [f"Unknown property '{name}'."]
    for name, f in schema.items():
        if name in body:
            _check_value(body[name], f, prefix + name, errors)
        elif f.required:
            errors[prefix + name] = [f"The {name} field is required."]
    return errors


def require_valid(body: Any, schema: Mapping[str, Field]) -> dict[str, Any]:
    errors = check_body(body, schema)
    if errors:
        raise ApiError(400, "One or more validation errors occurred.", errors)
    return body
