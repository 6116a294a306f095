-- The shared line: tables every tenant shares (plans, users, …) live in
-- public, next to Condo's own registry.
CREATE TABLE plan (name text PRIMARY KEY, max_notes int NOT NULL);
