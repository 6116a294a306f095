-- TLS certificates, private keys and ACME accounts (condocert.Storage), and
-- the cluster-wide locks that make one server instance at a time talk to
-- the CA for a given name.
--
-- Keys are certmagic storage keys ("certificates/<issuer>/<name>/<name>.crt").
-- The "C" collation makes prefix listing a range scan of the primary key.
CREATE TABLE condo_cert_storage (
    key        text COLLATE "C" PRIMARY KEY,
    -- AES-256-GCM ciphertext (nonce || sealed value) when encrypted, else
    -- the value itself.
    value      bytea       NOT NULL,
    encrypted  boolean     NOT NULL,
    modified   timestamptz NOT NULL DEFAULT now()
);

-- A lock is a row with a lease: held while expires_at is in the future, and
-- taken over by anyone once it has passed (a holder that died).
CREATE TABLE condo_cert_locks (
    name       text        PRIMARY KEY,
    owner      text        NOT NULL,
    expires_at timestamptz NOT NULL
);
