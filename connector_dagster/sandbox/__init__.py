"""Simulators of IFS Cloud and ServiceTitan served over HTTP on loopback."""
