"""Finance's page: a small web page beside Dagster, read from the connector's tables: the
grid of periods x flows, the queue of failed records (retry, resolve, ignore with a
note), a record's trace, and CSV of every list."""
