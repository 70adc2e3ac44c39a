"""Tests that the benchmark scenarios run and report what they promise (no timings)."""
