-- Moves between isolation tiers (issue 13): one row per tenant whose move
-- is under way or whose old copy waits out the grace period. Only package
-- condo reads or writes it (Registry.MoveTier and friends). The source and
-- target are what condo_tenants says of a tenant's place (tier, server,
-- database); the target's sealed login password is kept here until the
-- switch copies it to the tenant's row, so a resumed move reuses the role
-- it made. A row in phase 'switched' is a finished move whose fenced old
-- copy is dropped after the grace period; any other phase is a move in
-- progress, during which the tenant's fleet migrations are refused.
CREATE TABLE condo_tier_moves (
    tenant_id     bigint      PRIMARY KEY REFERENCES condo_tenants (id) ON DELETE CASCADE,
    from_tier     text        NOT NULL CHECK (from_tier IN ('schema', 'database')),
    from_server   text,
    from_database text,
    to_tier       text        NOT NULL CHECK (to_tier IN ('schema', 'database')),
    to_server     text,
    to_database   text,
    to_password   bytea,
    version       bigint      NOT NULL,
    phase         text        NOT NULL CHECK (phase IN ('started', 'prepared', 'copied', 'switched')),
    rows_copied   bigint      NOT NULL DEFAULT 0,
    write_pause   interval,
    started_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    switched_at   timestamptz
);
CREATE INDEX condo_tier_moves_switched_idx ON condo_tier_moves (switched_at) WHERE phase = 'switched';
