-- Credentials of any registered system (connector_dagster/systems/): the vault checks
-- the system and field against the registry; the table keeps only the form of a name.
ALTER TABLE connector.credentials DROP CONSTRAINT IF EXISTS credentials_system_check;
ALTER TABLE connector.credentials DROP CONSTRAINT IF EXISTS credentials_system_name;
ALTER TABLE connector.credentials
    ADD CONSTRAINT credentials_system_name CHECK (system ~ '^[a-z][a-z0-9_]{0,39}$');
