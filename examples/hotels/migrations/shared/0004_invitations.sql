-- Invitations to join a tenant, redeemed once through a secret link.
CREATE TABLE invitations (
    token_hash  bytea       PRIMARY KEY,
    tenant_id   bigint      NOT NULL REFERENCES condo_tenants (id) ON DELETE CASCADE,
    email       text        NOT NULL,
    role        text        NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    invited_by  bigint      REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    accepted_at timestamptz,
    accepted_by bigint      REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX invitations_tenant_idx ON invitations (tenant_id);
