-- Condo's own shared tables: the tenant registry and its domains.
CREATE TABLE condo_tenants (
    id                bigint      PRIMARY KEY,
    slug              text        NOT NULL UNIQUE,
    name              text        NOT NULL,
    schema_name       text        NOT NULL UNIQUE,
    role_name         text        NOT NULL UNIQUE,
    status            text        NOT NULL DEFAULT 'active'
                                  CHECK (status IN ('active', 'suspended', 'deleted')),
    paid_until        date,
    on_trial          boolean     NOT NULL DEFAULT false,
    created_on        date        NOT NULL DEFAULT current_date,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    migration_version bigint      NOT NULL DEFAULT 0
);
CREATE SEQUENCE condo_tenants_id_seq OWNED BY condo_tenants.id;
ALTER TABLE condo_tenants ALTER COLUMN id SET DEFAULT nextval('condo_tenants_id_seq');
-- The fleet migrator's "who is behind?" question is one index scan.
CREATE INDEX condo_tenants_version_idx ON condo_tenants (migration_version) WHERE status <> 'deleted';
CREATE INDEX condo_tenants_created_idx ON condo_tenants (created_on);

CREATE TABLE condo_domains (
    host         text        PRIMARY KEY,
    tenant_id    bigint      NOT NULL REFERENCES condo_tenants (id) ON DELETE CASCADE,
    is_primary   boolean     NOT NULL DEFAULT false,
    -- A custom domain counts (for routing and certificates) only once its
    -- owner proved control of it, or an operator added it.
    verified_at  timestamptz,
    verify_token text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX condo_domains_one_primary ON condo_domains (tenant_id) WHERE is_primary;
CREATE INDEX condo_domains_tenant_idx ON condo_domains (tenant_id);
