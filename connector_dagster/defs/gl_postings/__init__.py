"""Flow F2: IFS GL posting proposals into ServiceTitan journal entries (spec, settings,
source, target, mapping, schema)."""
