-- One-time links mailed to a user: a password reset (which also lifts a
-- sign-in block for the network it is opened from) and the e-mail
-- verification sent at signup. Only the token's SHA-256 is kept.
CREATE TABLE user_tokens (
    token_hash bytea       PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text        NOT NULL CHECK (purpose IN ('reset', 'verify')),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX user_tokens_user_idx ON user_tokens (user_id);

ALTER TABLE users ADD COLUMN email_verified_at timestamptz;
