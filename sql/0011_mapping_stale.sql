-- A record whose mapping entry points at a target record that is gone, inactive or
-- blocked fails as `mapping_stale` (found in the systems' master data before a write).
ALTER TABLE connector.failed_records DROP CONSTRAINT IF EXISTS failed_records_reason_check;
ALTER TABLE connector.failed_records ADD CONSTRAINT failed_records_reason_check CHECK (reason IN (
    'validation', 'mapping_missing', 'mapping_stale', 'conflict', 'target_locked',
    'period_closed', 'rejected', 'transient_exhausted'));
