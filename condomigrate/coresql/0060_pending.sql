-- Pending tenants (issue 13): ready-made tenants (schema, role, every
-- tenant migration) that condo.Registry.Create claims on signup instead of
-- running the DDL then. A pending tenant's slug starts with "~", which is
-- neither a slug nor a host character: no Host header and no validated
-- slug can name one. It is kept by the fleet migrator (status <> 'deleted'),
-- so a deploy leaves the pool claimable.
ALTER TABLE condo_tenants DROP CONSTRAINT condo_tenants_status_check;
ALTER TABLE condo_tenants ADD CONSTRAINT condo_tenants_status_check
    CHECK (status IN ('active', 'suspended', 'deleted', 'pending'));
-- A claim is one index scan: the first pending tenant at the latest version.
CREATE INDEX condo_tenants_pending_idx ON condo_tenants (migration_version, id) WHERE status = 'pending';
