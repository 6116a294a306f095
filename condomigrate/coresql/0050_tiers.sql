-- Isolation tiers (issue 13). A tenant lives in a schema of the registry's
-- database ('schema', as before) or in a database of its own ('database'),
-- on the registry's server (server NULL) or on a server the configuration
-- names. A database-tier tenant's runtime connections log in as its own
-- role, whose password is kept sealed (AES-256-GCM, the registry's secret
-- key, the tenant id bound as additional data): a copy of this table does
-- not reveal it.
ALTER TABLE condo_tenants
    ADD COLUMN tier          text  NOT NULL DEFAULT 'schema' CHECK (tier IN ('schema', 'database')),
    ADD COLUMN server        text,
    ADD COLUMN database_name text,
    ADD COLUMN role_password bytea,
    ADD CONSTRAINT condo_tenants_tier_fields_check CHECK (
        (tier = 'schema' AND server IS NULL AND database_name IS NULL AND role_password IS NULL)
        OR (tier = 'database' AND database_name IS NOT NULL AND role_password IS NOT NULL));
-- One database per tenant and server: doctor finds orphans (a creation
-- that died after CREATE DATABASE) by looking each name up here.
CREATE UNIQUE INDEX condo_tenants_database_idx ON condo_tenants (coalesce(server, ''), database_name)
    WHERE database_name IS NOT NULL;
