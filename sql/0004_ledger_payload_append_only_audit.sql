-- The payload last written to the target, so an update sends only the fields whose
-- mapped value changed (a field a person edited in the target is left alone) and a
-- plan can show what a write would change.
ALTER TABLE connector.sync_ledger ADD COLUMN last_payload jsonb;

-- 0003 left first_intent_at empty on rows whose create was intended before it existed
-- but that had failed since (a create whose outcome was unknown): take it from the
-- first `intent` in their audit trail, so the look-up searches from there.
UPDATE connector.sync_ledger l
   SET first_intent_at = a.first_intent
  FROM (SELECT connection, flow, source_key, min(at) AS first_intent
          FROM connector.audit_log WHERE action = 'intent'
         GROUP BY connection, flow, source_key) a
 WHERE l.first_intent_at IS NULL
   AND a.connection = l.connection AND a.flow = l.flow AND a.source_key = l.source_key;

-- The audit log is append-only: rows can be added, never changed or removed.
CREATE FUNCTION connector.audit_log_is_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'connector.audit_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON connector.audit_log
    FOR EACH ROW EXECUTE FUNCTION connector.audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON connector.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION connector.audit_log_is_append_only();
