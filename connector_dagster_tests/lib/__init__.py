"""Tests of connector_dagster.lib."""
