"""Tests of flow F4, ServiceTitan AP and inventory bills into IFS GL posting sets."""
