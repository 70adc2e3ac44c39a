"""Tests of flow F3, ServiceTitan invoices (and jobs) into IFS GL posting sets."""
