-- A reserve of tenant roles (issue 15): roles made ahead, many per
-- transaction, that condo.Registry.Create takes instead of making one.
-- PostgreSQL resets every backend's cached role memberships on each commit
-- that changes pg_authid or pg_auth_members (acl.c), and every backend of a
-- runtime role then recomputes its share on its next SET ROLE: one reset
-- per batch of reserved roles instead of one per signup. Ids come from
-- condo_tenants_id_seq, so reserved role <prefix>tenant_<id> becomes tenant
-- <id>, its runtime-shard grants (id % shards) already right. Only package
-- condo reads or writes it (Registry.ReserveRoles, Registry.Create). Not
-- used on Citus (tenant roles there are made by the owner and propagate to
-- the workers), so it needs no distribution.
CREATE TABLE condo_role_reserve (
    id        bigint      PRIMARY KEY,
    role_name text        NOT NULL UNIQUE,
    made_on   timestamptz NOT NULL DEFAULT now()
);
