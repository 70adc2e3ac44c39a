"""The IFS GL posting kit F3 (invoices) and F4 (bills) share: settings, target, mapping
tables and helpers, ServiceTitan change feed, schema parts and reconciliation."""
