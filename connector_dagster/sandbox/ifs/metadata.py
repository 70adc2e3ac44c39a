"""A projection's CSDL document (`$metadata`): enum types, entity types with their
navigation properties, bound actions and the entity container."""

from __future__ import annotations

from connector_dagster.sandbox.ifs.odata import DECIMAL
from connector_dagster.sandbox.ifs.schema import Service


def metadata_xml(service: Service, served: dict[str, str] | None = None) -> str:
    """A compact CSDL document: enum types, entity types and the container, each entity
    set under its `served` name (own name -> the name the release serves it as)."""
    served = served or {}
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
        for child in service.children(eset):
            props.append(
                f'<NavigationProperty Name="{child.nav}" Type="Collection({ns}.{child.entity})"/>'
            )
        keys = "".join(f'<PropertyRef Name="{k}"/>' for k in eset.keys)
        types.append(
            f'<EntityType Name="{eset.entity}"><Key>{keys}</Key>{"".join(props)}</EntityType>'
        )
        types.extend(
            f'<Action Name="{eset.entity}_{action}" IsBound="true">'
            f'<Parameter Name="it" Type="{ns}.{eset.entity}"/></Action>'
            for action in eset.actions
        )
    enum_xml = "".join(
        f'<EnumType Name="{name}" IsFlags="false" UnderlyingType="Edm.Int32">'
        + "".join(f'<Member Name="{m}" Value="{i}"/>' for i, m in enumerate(members))
        + "</EnumType>"
        for name, members in enums.items()
    )
    sets = "".join(
        f'<EntitySet Name="{served.get(s.name, s.name)}" EntityType="{ns}.{s.entity}"/>'
        for s in service.sets
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
