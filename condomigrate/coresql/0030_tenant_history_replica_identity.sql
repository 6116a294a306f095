-- Tenant migration histories made before this version get a replica
-- identity (condomigrate.TenantHistoryReplicaIdentityDDL gives it to new
-- ones): Citus moves a tenant schema online (citus_schema_move, logical
-- replication) only when every table in it has one. Deleted tenants keep
-- their schema until purged, so they are included; a schema dropped behind
-- Condo's back is skipped.
DO $$
DECLARE
    s text;
BEGIN
    FOR s IN SELECT schema_name FROM public.condo_tenants
             WHERE to_regclass(format('%I.condo_migrations', schema_name)) IS NOT NULL
    LOOP
        EXECUTE format('ALTER TABLE %I.condo_migrations REPLICA IDENTITY FULL', s);
    END LOOP;
END
$$;
