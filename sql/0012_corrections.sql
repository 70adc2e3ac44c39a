-- Corrections after close (`corrections: next_open_period` in a flow's settings): a
-- record changed after its target period closed keeps its original target record and
-- ledger row (target_id: the original); the change is posted as a correction of its
-- own, dated in the next open period, one row here each. Its period's reconciliation
-- counts it (partition_key); the record's own period counts what was posted there
-- (`before` of its first correction).
CREATE TABLE connector.corrections (
    connection          text        NOT NULL,
    flow                text        NOT NULL,
    source_key          text        NOT NULL,
    seq                 integer     NOT NULL CHECK (seq > 0),
    target_id           text        NOT NULL,
    partition_key       text        NOT NULL,  -- the period it landed in
    corrects_id         text        NOT NULL,  -- the record's original target record
    corrects_partition  text        NOT NULL,  -- the record's own (closed) period
    payload             jsonb       NOT NULL,  -- the correction as written
    before              jsonb,                 -- the record's payload in effect before it
    run_id              text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection, flow, source_key, seq)
);
CREATE INDEX corrections_landed ON connector.corrections (connection, flow, partition_key);
CREATE INDEX corrections_of ON connector.corrections (connection, flow, corrects_partition);
