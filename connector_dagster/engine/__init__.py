"""The flow engine, written once for every flow: the spec, the builder of its Dagster
definitions, and the write protocol."""
