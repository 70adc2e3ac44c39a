"""Flow F3: ServiceTitan invoices (with their jobs) into balanced IFS GL posting sets, each
marked exported in ServiceTitan; its IFS posting target is the posting kit's (as F4's)."""
