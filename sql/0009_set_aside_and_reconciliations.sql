-- Failed records that finance sets aside: a failure that can never be fixed (a change
-- to a Closed PO) is resolved (handled outside the connector) or ignored, with a note
-- and a name, kept in the audit trail. The ledger remembers what was set aside (the
-- payload hash and source version that failed), so later runs skip that record until
-- its source or mapped payload changes; the period then counts as clean.

-- NULL: resolved by the connector itself (a later write or a replay succeeded).
ALTER TABLE connector.failed_records
    ADD COLUMN resolution      text CHECK (resolution IN ('resolved', 'ignored')),
    ADD COLUMN resolved_by     text,
    ADD COLUMN resolution_note text,
    ADD COLUMN payload_hash    text,
    ADD COLUMN source_version  text;

ALTER TABLE connector.sync_ledger
    ADD COLUMN set_aside_hash    text,
    ADD COLUMN set_aside_version text;

-- Who did what, and why, for an audit row written by a person (resolve, ignore).
ALTER TABLE connector.audit_log
    ADD COLUMN actor text,
    ADD COLUMN note  text;

-- The last reconciliation of each period and flow (CLI or asset), for finance's page.
CREATE TABLE connector.reconciliations (
    connection     text        NOT NULL,
    partition_key  text        NOT NULL,
    flow           text        NOT NULL,
    reconciles     boolean     NOT NULL,
    differences    integer     NOT NULL,
    lines          jsonb       NOT NULL,
    counts         jsonb       NOT NULL,
    reconciled_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection, partition_key, flow)
);
