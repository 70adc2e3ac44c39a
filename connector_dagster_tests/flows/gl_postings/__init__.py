"""Tests of flow F2, GL posting proposals from IFS into ServiceTitan journal entries."""
