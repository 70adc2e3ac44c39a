-- When a create was first intended for a record: the earliest moment a target
-- record could exist, so provenance look-ups search from there (NULL: never
-- intended, nothing to look for).
ALTER TABLE connector.sync_ledger ADD COLUMN first_intent_at timestamptz;
UPDATE connector.sync_ledger SET first_intent_at = created_at
    WHERE status = 'pending' OR target_id IS NOT NULL;
