"""Tests of flow F5, purchase orders raised in ServiceTitan into IFS."""
