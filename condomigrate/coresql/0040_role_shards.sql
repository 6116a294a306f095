-- Tenant roles in shards (issue 15): PostgreSQL's cost of a role's
-- memberships grows with their number, so with many tenants no role may be
-- a member of all of them. A runtime role may serve one shard of the
-- tenants (id % shards = shard; shards 0: all of them, as before), and
-- tenant roles are created by provisioning roles (condo.Provision), the one
-- holding the fewest (roles counts them) making the next, so that each
-- holds the ADMIN OPTION PostgreSQL 16+ gives a role's creator on only its
-- share, and provisioning roles added later take the new tenants.
ALTER TABLE condo_runtime_roles
    ADD COLUMN shards integer NOT NULL DEFAULT 0,
    ADD COLUMN shard  integer NOT NULL DEFAULT 0,
    ADD CONSTRAINT condo_runtime_roles_shard_check
        CHECK (shards >= 0 AND shard >= 0 AND (shard < shards OR (shards = 0 AND shard = 0)));

CREATE TABLE condo_provisioners (
    shard      integer     PRIMARY KEY CHECK (shard >= 0),
    role_name  text        NOT NULL UNIQUE,
    roles      bigint      NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);
