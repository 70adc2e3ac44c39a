"""What a flow uses of IFS (an entity set, named by a flow setting, with the fields it
reads and writes), and how `check` asks IFS for it: the projection's service document
and `$metadata`, then one page of the set."""

from __future__ import annotations

import difflib
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

from connector_dagster.lib.errors import ApiError
from connector_dagster.onboarding.findings import DIFFERS, FAILED, FORBIDDEN, MISSING, OK, Finding
from connector_dagster.onboarding.probe import Probe, api_text

SYSTEM = "ifs"


@dataclass(frozen=True)
class Metadata:
    """A projection's `$metadata`: entity set -> its entity type's properties and types."""

    sets: dict[str, dict[str, str]]

    @classmethod
    def parse(cls, xml: bytes) -> Metadata:
        # The connection's own IFS answers; expat (>= 2.4.1, as CPython ships it) refuses
        # entity expansion attacks and never fetches external entities.
        root = ET.fromstring(xml)  # noqa: S314
        types: dict[str, dict[str, str]] = {}
        sets: dict[str, str] = {}
        for el in root.iter():
            tag = el.tag.rsplit("}", 1)[-1]
            if tag == "EntityType":
                types[el.get("Name", "")] = {
                    p.get("Name", ""): p.get("Type", "")
                    for p in el
                    if p.tag.rsplit("}", 1)[-1] == "Property"
                }
            elif tag == "EntitySet":
                sets[el.get("Name", "")] = el.get("EntityType", "").rsplit(".", 1)[-1]
        return cls({name: types.get(entity, {}) for name, entity in sets.items()})


@dataclass(frozen=True)
class EntitySet:
    """An IFS entity set a flow reads or writes, named by its setting (`headers_set`)."""

    setting: str
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    field_settings: tuple[str, ...] = ()
    """Settings of the flow whose values are fields it uses (`reference_field`)."""
    system: ClassVar[str] = SYSTEM

    @cached_property
    def _own_fields(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.reads, *self.writes)))

    def check(self, probe: Probe, flow: str, settings: Any) -> list[Finding]:
        set_path = str(getattr(settings, self.setting))
        service, _, name = set_path.rstrip("/").rpartition("/")
        named = []
        for s in self.field_settings:
            value = getattr(settings, s)
            named.extend(value if isinstance(value, (list, tuple)) else [value])
        fields = tuple(dict.fromkeys((*self._own_fields, *map(str, named))))
        setting = f"flows.{flow}.{self.setting}"

        def finding(status: str, detail: str = "", fix: str = "", cands: tuple = ()) -> Finding:
            return Finding(SYSTEM, set_path, status, detail, fix, flow, cands)

        ifs = probe.session.client(SYSTEM)
        root = ifs.path(service)
        served = probe.once(("ifs service", root), lambda: _served(ifs, root))
        if isinstance(served, ApiError):
            return [_refused(served, service, setting, finding)]
        meta = probe.once(("ifs $metadata", root), lambda: _metadata(ifs, root))
        if isinstance(meta, ApiError):
            return [_refused(meta, service, setting, finding)]
        if name not in served or name not in meta.sets:
            candidates = _candidates(meta, name, fields)
            fix = f"set {setting} to {service}/{candidates[0]}" if candidates else (
                f"set {setting} to the entity set {service} serves"
            )  # fmt: skip
            return [finding(DIFFERS, f"{service} serves no entity set {name}", fix, candidates)]
        props = meta.sets[name]
        absent = [f for f in fields if f not in props]
        if absent:
            close = tuple(
                f"{f}~{m}" for f in absent for m in difflib.get_close_matches(f, props, 1, 0.75)
            )
            return [
                finding(
                    MISSING,
                    f"{name} has no field(s) {', '.join(absent)}",
                    f"the flow reads or writes them: grant the permission set that shows them, "
                    f"or point {setting} at a set that has them",
                    close,
                )
            ]
        page = probe.once(("ifs page", root, name), lambda: ifs.transport.request(
            "GET", f"{root}/{name}?$top=1&$select={','.join(fields[:1])}"))  # fmt: skip
        if isinstance(page, ApiError):
            return [_refused(page, service, setting, finding)]
        typed = ", ".join(f"{f} {props[f]}" for f in fields)
        writes = f", writes {len(self.writes)}" if self.writes else ""
        return [finding(OK, f"{len(fields)} fields{writes}: {typed}")]


def _served(ifs: Any, root: str) -> set[str]:
    """The entity sets the projection's service document lists."""
    return {str(v.get("name")) for v in ifs.transport.request("GET", f"{root}/").data["value"]}


def _metadata(ifs: Any, root: str) -> Metadata:
    return Metadata.parse(ifs.transport.request("GET", f"{root}/$metadata", raw=True).content)


def _refused(exc: ApiError, service: str, setting: str, finding: Any) -> Finding:
    said = api_text(exc)
    if exc.status == 404:
        return finding(
            MISSING,
            f"IFS serves no projection {service} ({said})",
            f"set {setting} to the projection your IFS release serves (IFS's API Explorer "
            "lists them)",
        )
    if exc.status in (401, 403):
        return finding(
            FORBIDDEN,
            said,
            f"grant the connection's IFS user the permission set for {service} (read, and "
            "write where the flow writes)",
        )
    return finding(FAILED, said, "see the IFS error; run check again once it is fixed")


def _candidates(meta: Metadata, name: str, fields: tuple[str, ...]) -> tuple[str, ...]:
    """The sets of the projection that may be the one meant: those whose type has most of
    the fields, then those whose name is close, best first."""
    scored = []
    for other, props in meta.sets.items():
        share = sum(f in props for f in fields) / len(fields) if fields else 0.0
        likeness = difflib.SequenceMatcher(None, name.lower(), other.lower()).ratio()
        if share >= 0.8 or likeness >= 0.6:
            scored.append((-share, -likeness, other))
    return tuple(other for *_, other in sorted(scored))


def authenticate(probe: Probe) -> list[Finding]:
    """A token for the connection's IFS user, and how long IFS grants it for."""
    ifs = probe.session.client(SYSTEM)
    try:
        ifs.transport.tokens.token()
    except ApiError as exc:
        return [
            Finding(
                SYSTEM, "token", FAILED, api_text(exc),
                f"check the IFS realm ({ifs.settings.realm}) and the vault's ifs client_id "
                f"and client_secret (credentials set {probe.session.name} ifs client_secret)",
            )
        ]  # fmt: skip
    lifetime = ifs.transport.tokens.lifetime_s
    return [
        Finding(SYSTEM, "token", OK, f"granted for {lifetime:.0f} s, realm {ifs.settings.realm}")
    ]
