-- The tenant's own settings: one row. public_directory publishes the
-- hotel list (GET /hotels/) to anyone; off until the owner turns it on.
-- Kept in the tenant's schema, not a shared table: it is read in the same
-- tenant transaction (and round trip) as the hotels, under the tenant's
-- role, which needs no grant on shared tables for it; and it goes with the
-- schema when the tenant is purged.
CREATE TABLE settings (
    id               boolean PRIMARY KEY DEFAULT true CHECK (id),
    public_directory boolean NOT NULL DEFAULT false
);
INSERT INTO settings DEFAULT VALUES;
