-- The webhook receiver's state beside the inbox: how often an occurrence was
-- delivered, the deliveries it refused (counted by reason), and credentials that
-- expire (the previous webhook key stays valid for a grace period after a rotation).

ALTER TABLE connector.webhook_inbox
    ADD COLUMN delivery_id       text,
    ADD COLUMN deliveries        integer     NOT NULL DEFAULT 1,
    ADD COLUMN last_delivered_at timestamptz NOT NULL DEFAULT now();

-- Refused deliveries per connection and reason (bad signature, oversized body,
-- unknown tenant...): counters only, never the request or its body.
CREATE TABLE connector.webhook_refusals (
    connection     text        NOT NULL,
    reason         text        NOT NULL,
    refused        bigint      NOT NULL DEFAULT 0,
    first_at       timestamptz NOT NULL DEFAULT now(),
    last_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection, reason)
);

-- A credential with an expiry is no longer returned once it has passed.
ALTER TABLE connector.credentials ADD COLUMN expires_at timestamptz;
