-- What a source asset read for a partition, so the write step (in another
-- process or on another machine) works from the same records.
CREATE TABLE connector.asset_snapshots (
    asset_key      text        NOT NULL,
    partition_key  text        NOT NULL DEFAULT '',
    data           jsonb       NOT NULL,
    stored_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (asset_key, partition_key)
);
