"""Tests of the flows (connector_dagster.defs.<flow>): each end to end and its pure mapping."""
