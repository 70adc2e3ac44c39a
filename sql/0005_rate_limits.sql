-- The rate limit of each API bucket (API + tenant or host), shared by every
-- process and machine that calls it: a GCRA schedule, one row per bucket.
-- `tat` (theoretical arrival time) is the slot after the last one granted; a
-- grant moves it on by one interval, a 429 pushes it to the end of Retry-After.
-- All times come from the database's clock, so client clocks may disagree.
-- `per_s` and `burst` are the rate of the last grant (configuration applies on
-- the next request); `grants` counts the slots granted since the row was made.
CREATE TABLE connector.rate_limits (
    api        text             NOT NULL,
    bucket     text             NOT NULL,
    tat        timestamptz      NOT NULL,
    per_s      double precision NOT NULL CHECK (per_s > 0),
    burst      integer          NOT NULL CHECK (burst >= 1),
    grants     bigint           NOT NULL DEFAULT 0,
    created_at timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (api, bucket)
);
