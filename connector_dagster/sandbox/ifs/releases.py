"""Projection and entity-set names as a chosen IFS release serves them: a release (or
the `renames` switch) gives some projections or entity sets other names, so that a
connection configured for another release meets the names its tenant has."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from connector_dagster.sandbox.ifs.schema import SERVICES, Service

RELEASES: dict[str, dict[str, str]] = {
    "": {},
    # 25R1: the no-part lines on PurchaseOrderHandling; all lines only on the Entity
    # Service (`/int/.../PurchaseOrderLineEntity.svc`), see the IFS reference.
    "25R1": {"PurchaseOrderHandling.svc/PurchaseOrderLineSet": "PurchaseOrderLineNopartSet"},
}
"""Release -> renames: `Projection` -> new projection name, or `Projection.svc/Set` ->
new entity-set name."""


@dataclass(frozen=True)
class Names:
    """The served names under a set of renames."""

    renames: Mapping[str, str]

    def service(self, kind: str, public: str) -> tuple[Service, dict[str, str]] | None:
        """The service served as `public`, and its sets' public name -> own name."""
        for (k, name), service in SERVICES.items():
            if k != kind or self.renames.get(name, name) != public:
                continue
            sets = {self.set_name(name, s.name): s.name for s in service.sets}
            return (service if public == name else replace(service, name=public)), sets
        return None

    def set_name(self, service: str, eset: str) -> str:
        return self.renames.get(f"{service}.svc/{eset}", eset)


def names_for(release: str, renames: Mapping[str, str]) -> Names:
    """The names of `release` with `renames` on top; ValueError for an unknown release."""
    if release not in RELEASES:
        known = ", ".join(repr(r) for r in RELEASES)
        raise ValueError(f"unknown IFS release {release!r}; one of {known}")
    return Names({**RELEASES[release], **renames})
