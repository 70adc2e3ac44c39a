"""Dagster code location that keeps IFS Cloud and ServiceTitan in step."""
