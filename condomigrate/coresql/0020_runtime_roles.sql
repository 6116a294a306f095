-- Login roles that run tenant transactions when roles are split
-- (condo.GrantRuntime): every tenant role made afterwards is granted to each
-- of them in its creating transaction, whichever process creates it.
CREATE TABLE condo_runtime_roles (
    role_name  text        PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);
