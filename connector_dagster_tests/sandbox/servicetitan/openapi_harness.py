"""The harness of the OpenAPI conformance test (`test_openapi_conformance.py`):
ServiceTitan's specs loaded from `openapi/`, httpx exchanges adapted
to openapi-core, `Checked` (a call validated against the spec) and `Cases`, the
registry of conformance cases by served route.

The specs write nullable references as `nullable: true` beside `oneOf`, which
OAS 3.0.3 strictly ignores; ServiceTitan sends nulls there, so `load_spec` reads
such a schema as "null, or the composition"."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from connector_dagster_tests.sandbox.servicetitan.support import StSandbox

SPEC_DIR = Path(
    os.environ.get("CONNECTOR_ST_OPENAPI_DIR") or Path(__file__).resolve().parent / "openapi"
)
MODULES = ("inventory", "accounting", "jpm", "settings")
OPTIONAL_MODULES = ("pricebook",)
"""Modules whose spec is not copied here (no pricebook spec is at hand): their routes
have no conformance case (`test_pricebook.py` tests them); with the spec in SPEC_DIR
(`pricebook-v2.json`), their routes are checked to be in it."""


def present_modules() -> tuple[str, ...]:
    """The modules whose spec is at hand: every one of MODULES, and the optional ones found."""
    return (*MODULES, *(m for m in OPTIONAL_MODULES if (SPEC_DIR / f"{m}-v2.json").exists()))


PREFIX = "/{module}/v2/tenant/{tenant}/"


def load_spec(module: str) -> dict[str, Any]:
    """The spec of one module (`accounting`, …), nullable compositions relaxed."""
    path = SPEC_DIR / f"{module}-v2.json"
    if not path.exists():
        pytest.fail(f"ServiceTitan spec {path} is missing; set CONNECTOR_ST_OPENAPI_DIR")
    return nullable_compositions(json.loads(path.read_text(encoding="utf-8")))


def nullable_compositions(node: Any) -> Any:
    """`node` with every `nullable: true` beside `oneOf`/`anyOf`/`allOf` made explicit."""
    if isinstance(node, list):
        return [nullable_compositions(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: nullable_compositions(v) for k, v in node.items()}
    if out.get("nullable") is True and {"oneOf", "anyOf", "allOf"} & out.keys():
        inner = {k: v for k, v in out.items() if k != "nullable"}
        return {"anyOf": [inner, {"type": "object", "nullable": True, "enum": [None]}]}
    return out


class SpecRequest:
    """An httpx request as openapi-core's `Request` protocol."""

    def __init__(self, request: httpx.Request) -> None:
        url = urlsplit(str(request.url))
        self.host_url = f"{url.scheme}://{url.netloc}"
        self.path = url.path
        self.method = request.method.lower()
        self.body = request.content or None
        self.content_type = request.headers.get("content-type", "")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qs(url.query, keep_blank_values=True)),
            header=Headers(dict(request.headers)),
            cookie=ImmutableMultiDict(),
        )


class SpecResponse:
    """An httpx response as openapi-core's `Response` protocol."""

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.headers = Headers(dict(response.headers))
        self.data = response.content
        self.content_type = response.headers.get("content-type", "")


class Checked:
    """Calls the simulator and validates every exchange against the spec."""

    def __init__(self, st: StSandbox, specs: dict[str, OpenAPI]) -> None:
        self.st = st
        self.specs = specs
        self.exchanges: list[tuple[str, int]] = []

    def __call__(
        self, method: str, module: str, rest: str, expect: int = 200, **kwargs: Any
    ) -> Any:
        response = self.st.call(method, module, rest, **kwargs)
        assert response.status_code == expect, response.text
        spec = self.specs.get(module)
        if spec is None:
            pytest.skip(f"no {module}-v2.json in {SPEC_DIR} to validate {method} {module}/{rest}")
        if response.status_code < 300:
            spec.validate_request(SpecRequest(response.request))
        spec.validate_response(SpecRequest(response.request), SpecResponse(response))
        self.exchanges.append((f"{method} {module}/{rest}", response.status_code))
        return response.json() if response.content else None


Case = Callable[[Checked], None]


class Cases(dict[tuple[str, str], Case]):
    """Conformance cases by (METHOD, `/{module}/v2/tenant/{tenant}/…` template)."""

    def case(self, method: str, module: str, template: str) -> Callable[[Case], Case]:
        def register(fn: Case) -> Case:
            self[(method, PREFIX.format(module=module, tenant="{tenant}") + template)] = fn
            return fn

        return register
