-- Server-side sessions. The cookie holds a random token; only its SHA-256
-- is stored, so a copy of this table opens no session. A session belongs to
-- a user (tenant hosts) or to a platform admin (the admin host), never both.
CREATE TABLE admin_users (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         text        NOT NULL,
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX admin_users_email_key ON admin_users (lower(email));

CREATE TABLE sessions (
    token_hash bytea       PRIMARY KEY,
    user_id    bigint      REFERENCES users (id) ON DELETE CASCADE,
    admin_id   bigint      REFERENCES admin_users (id) ON DELETE CASCADE,
    -- The tenant whose host the session was opened on (NULL on the admin
    -- host). Membership is still checked on every request.
    tenant_id  bigint      REFERENCES condo_tenants (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    CHECK (num_nonnulls(user_id, admin_id) = 1)
);
CREATE INDEX sessions_user_idx ON sessions (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX sessions_admin_idx ON sessions (admin_id) WHERE admin_id IS NOT NULL;
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

-- One-time, short-lived tokens that carry a login from the public site
-- (signup) to the new tenant's host, where the host-only cookie is set.
CREATE TABLE login_handoffs (
    token_hash bytea       PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id  bigint      NOT NULL REFERENCES condo_tenants (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL
);

-- Keys the application derives secrets from (CSRF tokens), made on first
-- use and shared by every server instance.
CREATE TABLE app_secrets (
    name  text  PRIMARY KEY,
    value bytea NOT NULL
);
