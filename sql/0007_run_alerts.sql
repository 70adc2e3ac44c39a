-- Failed runs, as the run-failure sensor saw them: which connection, flow and period,
-- what went wrong (no payloads, no secrets), and whether the alert was posted.
CREATE TABLE connector.run_alerts (
    run_id         text        PRIMARY KEY,
    job            text        NOT NULL,
    connection     text,
    flow           text,
    partition_key  text,
    message        text        NOT NULL,
    failed_at      timestamptz NOT NULL DEFAULT now(),
    posted         boolean     NOT NULL DEFAULT false,
    post_error     text
);
CREATE INDEX run_alerts_failed_at ON connector.run_alerts (failed_at);
