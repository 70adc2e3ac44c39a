"""Dagster definitions, one folder per flow."""
