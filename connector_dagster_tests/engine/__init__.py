"""Tests of connector_dagster.engine."""
