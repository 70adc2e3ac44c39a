"""Flow F5: purchase orders raised in ServiceTitan into IFS (spec, source, target,
mapping, schema)."""
