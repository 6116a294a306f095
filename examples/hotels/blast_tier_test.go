package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condotest"
	"github.com/condo-dev/condo/examples/hotels/migrations"
)

// TestBlastRadiusDatabaseTier is TestBlastRadius for a tenant of the
// database tier (README, "Blast radius of one SQL injection"): its
// connection logs in as its own role to its own database, so SQL injected
// into its code, stacked statements and role changes included, reaches its
// own schema and nothing else: not another tenant of either tier, not the
// registry, not the shared tables. Each probe runs as stacked statements
// through the simple protocol in InTenantTx and as one statement through
// QueryTenant.
func TestBlastRadiusDatabaseTier(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := condotest.NewDatabaseInfo(t, &condotest.DatabaseOpts{CreateDB: true})
	m, err := condomigrate.New(db.Pool, &condomigrate.Config{Shared: migrations.Shared(), Tenant: migrations.Tenant(), Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.MigrateShared(ctx, nil); err != nil {
		t.Fatal(err)
	}
	reg := condo.NewRegistry(db.Pool, m, &condo.RegistryConfig{SecretKey: bytes.Repeat([]byte{1}, 32), Logger: condotest.Logger(t)})
	defer reg.Close()
	tenants := map[string]*condo.Tenant{}
	for slug, tier := range map[string]condo.Tier{"acme": condo.TierDatabase, "globex": condo.TierSchema, "initech": condo.TierDatabase} {
		ten, err := reg.Create(ctx, condo.CreateParams{Slug: slug, Name: slug, Tier: tier})
		if err != nil {
			t.Fatal(err)
		}
		if err := reg.InTx(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) VALUES ($1, 'Lima', 4)", slug+" hotel")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		tenants[slug] = ten
	}
	if _, err := db.Pool.Exec(ctx, `
		INSERT INTO public.users (email, password_hash) VALUES ('a@example.test', '$argon2id$fake');
		INSERT INTO public.app_secrets (name, value) VALUES ('csrf', '\x02')`); err != nil {
		t.Fatal(err)
	}
	acme, globex, initech := tenants["acme"], tenants["globex"], tenants["initech"]
	main := db.Name
	probes := map[string]string{
		// Names from other databases do not resolve: PostgreSQL has no
		// cross-database references, whatever the role.
		"schema-tier tenant's rows":        "SELECT name FROM " + globex.Schema + ".hotel",
		"schema-tier tenant's rows, named": "SELECT name FROM " + main + "." + globex.Schema + ".hotel",
		"registry":                         "SELECT slug FROM " + main + ".public.condo_tenants",
		"registry, unqualified":            "SELECT slug FROM public.condo_tenants",
		"users' password hashes":           "SELECT password_hash FROM " + main + ".public.users",
		"other database tenant's rows":     "SELECT name FROM " + initech.Database + "." + initech.Schema + ".hotel",
		// Leaving the role: there is no other role to be.
		"reset role":                 "RESET ROLE; SET ROLE " + db.Role + "; SELECT 1",
		"set role to another tenant": "RESET ROLE; SET ROLE " + initech.Role + "; SELECT 1",
		"set role to the owner":      "SET ROLE " + db.Role + "; SELECT 1",
		"session authorization":      "SET SESSION AUTHORIZATION " + db.Role + "; SELECT 1",
		// Ways out of the database: none installable.
		"dblink":                  "CREATE EXTENSION dblink",
		"postgres_fdw":            "CREATE EXTENSION postgres_fdw",
		"create a schema":         "CREATE SCHEMA evil",
		"read server files":       "SELECT pg_read_file('/etc/passwd')",
		"run programs":            "COPY (SELECT 1) TO PROGRAM 'true'",
		"password hashes":         "SELECT rolpassword FROM pg_catalog.pg_authid",
		"create roles":            "CREATE ROLE evil",
		"grant itself the owner":  "GRANT " + db.Role + " TO CURRENT_USER",
		"drop its own history":    "DROP TABLE condo_migrations",
		"its own tables' DDL":     "ALTER TABLE hotel ADD COLUMN x int",
		"temporary tables":        "CREATE TEMP TABLE x (i int)",
		"another database's data": "SELECT query FROM pg_catalog.pg_stat_activity WHERE usename <> current_user AND query <> '<insufficient privilege>'",
	}
	tctx := condo.WithTenant(ctx, acme)
	for name, sql := range probes {
		t.Run(name, func(t *testing.T) {
			stacked := reg.InTenantTx(tctx, func(ctx context.Context, tx pgx.Tx) error {
				rows, err := tx.Query(ctx, sql, pgx.QueryExecModeSimpleProtocol)
				if err != nil {
					return err
				}
				n := 0
				for rows.Next() {
					n++
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					return err
				}
				if name == "another database's data" {
					// pg_stat_activity is readable, but shows other roles'
					// queries as <insufficient privilege>, hence no rows.
					if n != 0 {
						return errors.New("saw another role's query")
					}
					return errRefusedEmpty
				}
				return errBlastRollback
			})
			if errors.Is(stacked, errBlastRollback) {
				t.Fatalf("%s: got through: %s", name, sql)
			}
			if !errors.Is(stacked, errRefusedEmpty) && !tierRefused(stacked) {
				t.Errorf("%s: refused with %v, want a privilege or cross-database error", name, stacked)
			}
			t.Logf("%s: %v", name, stacked)
			if strings.Contains(sql, ";") {
				return
			}
			one := reg.QueryTenant(tctx, func(rows pgx.Rows) error {
				for rows.Next() {
				}
				return rows.Err()
			}, "SELECT query_to_xml('"+strings.ReplaceAll(sql, "'", "''")+"', true, false, '')")
			if one == nil && name != "another database's data" {
				t.Errorf("%s, one statement: got through", name)
			}
		})
	}

	// The tenant's role outside its connection: it may connect to the
	// registry's database (PUBLIC keeps CONNECT there unless the operator
	// revokes it) and read nothing in it; it may not connect to another
	// tenant's database at all.
	t.Run("its role in the registry's database", func(t *testing.T) {
		conn, err := pgx.Connect(ctx, strings.Replace(db.URL, "postgres://"+db.Role+"@", "postgres://"+acme.Role+"@", 1))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.WithoutCancel(ctx))
		for _, sql := range []string{
			"SELECT slug FROM public.condo_tenants",
			"SELECT name FROM " + globex.Schema + ".hotel",
			"SELECT password_hash FROM public.users",
			"SELECT value FROM public.app_secrets",
		} {
			if _, err := conn.Exec(ctx, sql); !tierRefused(err) {
				t.Errorf("%s: got %v, want a privilege error", sql, err)
			}
		}
	})
	t.Run("its role in another tenant's database", func(t *testing.T) {
		url := strings.Replace(db.URL, "postgres://"+db.Role+"@", "postgres://"+acme.Role+"@", 1)
		url = strings.Replace(url, "/"+db.Name+"?", "/"+initech.Database+"?", 1)
		conn, err := pgx.Connect(ctx, url)
		if err == nil {
			conn.Close(ctx)
			t.Fatal("connected to another tenant's database")
		}
		if !tierRefused(err) {
			t.Errorf("got %v, want a privilege error", err)
		}
	})
}

var errRefusedEmpty = errors.New("readable, but empty")

// tierRefused reports whether err is PostgreSQL refusing: no privilege,
// a cross-database reference, a name that is not there (another
// database's schema), or an extension that is not installable.
func tierRefused(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "42501", // insufficient_privilege
		"0A000", // feature_not_supported: cross-database references
		"42P01", // undefined_table
		"3F000", // invalid_schema_name
		"22023", // invalid_parameter_value: SET ROLE to a role it is not
		"58P01": // undefined_file: extension not available
		return true
	}
	return false
}
