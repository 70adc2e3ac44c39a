"""Flow F1: IFS purchase orders into ServiceTitan procurement (spec, source, target,
mapping, schema)."""
