-- Per-record leases, fenced in time: a lease lives in a table, not in a database
-- session, so it outlives a restart of PostgreSQL, and it lapses unless its holder
-- renews it. A holder is one write step; its records point at it, so renewing every
-- lease of a step is one row, whatever the number of records.
--
-- A record's lease may be taken by another step only once its holder is released
-- (its row gone), or once the holder's lease expired and every request it could
-- still have sent has timed out: expires_at + in_flight_s.
CREATE TABLE connector.lease_holders (
    holder       uuid        PRIMARY KEY,
    connection   text        NOT NULL,
    flow         text        NOT NULL,
    run_id       text,
    host         text        NOT NULL,
    pid          integer     NOT NULL,
    ttl_s        double precision NOT NULL CHECK (ttl_s > 0),
    in_flight_s  double precision NOT NULL CHECK (in_flight_s >= 0),
    started_at   timestamptz NOT NULL DEFAULT now(),
    renewed_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);

CREATE TABLE connector.record_leases (
    connection   text        NOT NULL,
    flow         text        NOT NULL,
    source_key   text        NOT NULL,
    holder       uuid        NOT NULL,
    PRIMARY KEY (connection, flow, source_key)
);
CREATE INDEX record_leases_holder ON connector.record_leases (holder);
