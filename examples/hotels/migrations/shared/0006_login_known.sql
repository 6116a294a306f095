-- Networks (IPv4 address, IPv6 /64) each account signed in from lately,
-- by the hash of (realm, e-mail, network): they skip the per-account
-- slow-down that guessers spread over many networks trigger, so an attack
-- on an account never slows its owner at home.
CREATE TABLE login_known (
    key     text        PRIMARY KEY,
    seen_at timestamptz NOT NULL
);
CREATE INDEX login_known_seen_idx ON login_known (seen_at);
