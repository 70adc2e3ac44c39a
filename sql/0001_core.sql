-- Connector state: ledger, audit trail, failed records, webhook inbox,
-- encrypted credentials and versioned mappings. Every row is keyed by connection.

CREATE TABLE connector.sync_ledger (
    connection      text        NOT NULL,
    flow            text        NOT NULL,
    source_key      text        NOT NULL,
    partition_key   text,
    status          text        NOT NULL CHECK (status IN ('pending', 'synced', 'failed')),
    payload_hash    text,
    target_id       text,
    source_version  text,
    mapping_version text,
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection, flow, source_key)
);
CREATE INDEX sync_ledger_partition ON connector.sync_ledger (connection, flow, partition_key);

CREATE TABLE connector.audit_log (
    id             bigserial   PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    connection     text        NOT NULL,
    flow           text        NOT NULL,
    source_key     text        NOT NULL,
    run_id         text,
    partition_key  text,
    action         text        NOT NULL,
    target_id      text,
    http_status    integer,
    hash_before    text,
    hash_after     text,
    error          text
);
CREATE INDEX audit_log_record ON connector.audit_log (connection, flow, source_key);
CREATE INDEX audit_log_run ON connector.audit_log (run_id);

CREATE TABLE connector.failed_records (
    id             bigserial   PRIMARY KEY,
    connection     text        NOT NULL,
    flow           text        NOT NULL,
    source_key     text        NOT NULL,
    partition_key  text,
    reason         text        NOT NULL CHECK (reason IN (
                       'validation', 'mapping_missing', 'conflict', 'target_locked',
                       'period_closed', 'rejected', 'transient_exhausted')),
    message        text        NOT NULL,
    payload        jsonb,
    attempts       integer     NOT NULL DEFAULT 1,
    resolved       boolean     NOT NULL DEFAULT false,
    first_failed_at timestamptz NOT NULL DEFAULT now(),
    last_failed_at timestamptz NOT NULL DEFAULT now(),
    resolved_at    timestamptz
);
-- At most one open failure per record: a repeat failure updates it.
CREATE UNIQUE INDEX failed_records_open
    ON connector.failed_records (connection, flow, source_key) WHERE NOT resolved;

CREATE TABLE connector.webhook_inbox (
    id             bigserial   PRIMARY KEY,
    connection     text        NOT NULL,
    occurrence_id  text        NOT NULL,
    event_type     text        NOT NULL,
    event_time     timestamptz,
    body           jsonb       NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    processed_at   timestamptz,
    processed_run  text,
    UNIQUE (connection, occurrence_id)
);
CREATE INDEX webhook_inbox_unprocessed ON connector.webhook_inbox (connection, id)
    WHERE processed_at IS NULL;

CREATE TABLE connector.credentials (
    connection     text        NOT NULL,
    system         text        NOT NULL CHECK (system IN ('ifs', 'servicetitan')),
    field          text        NOT NULL,
    ciphertext     bytea       NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection, system, field)
);

CREATE TABLE connector.mapping_versions (
    connection     text        NOT NULL,
    version        text        NOT NULL,
    source         text        NOT NULL,
    content_hash   text        NOT NULL,
    loaded_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection, version)
);

CREATE TABLE connector.mappings (
    connection     text        NOT NULL,
    kind           text        NOT NULL,
    source_value   text        NOT NULL,
    target         jsonb       NOT NULL,
    version        text        NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection, kind, source_value)
);

-- Continuation state of incremental reads (export feeds, change polls).
CREATE TABLE connector.sync_cursors (
    connection     text        NOT NULL,
    name           text        NOT NULL,
    value          text        NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection, name)
);
