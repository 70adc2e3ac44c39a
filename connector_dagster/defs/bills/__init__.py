"""Flow F4: ServiceTitan AP and inventory bills into balanced IFS GL posting sets, each
marked exported in ServiceTitan (through F3's IFS posting target)."""
