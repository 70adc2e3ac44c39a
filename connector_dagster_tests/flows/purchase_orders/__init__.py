"""Tests of flow F1, purchase orders from IFS into ServiceTitan."""
