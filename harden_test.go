package condo_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condotest"
)

var errRollback = errors.New("roll back")

// TestInjectionStaysInTenantRole runs the statements an SQL injection in
// tenant code would send, through both tenant paths, on a database as
// condotest (and an operator running condo.HardenSQL) leaves it and on one
// nobody hardened. One statement must not leave the tenant role once
// set_config is revoked; stacked statements (RESET ROLE; …) still do, which
// PostgreSQL can't forbid to a role that may SET ROLE, and the README says so.
func TestInjectionStaysInTenantRole(t *testing.T) {
	t.Parallel()
	for _, hardened := range []bool{true, false} {
		name := map[bool]string{true: "hardened", false: "unhardened"}[hardened]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil, &condotest.DatabaseOpts{Unhardened: !hardened})
			ctx := t.Context()
			acme, globex := e.create(t, "acme"), e.create(t, "globex")
			err := e.reg.InTx(ctx, globex, func(ctx context.Context, tx pgx.Tx) error {
				_, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) VALUES ('globex secret', 'Oslo', 5)")
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			other := "select name from " + globex.Schema + ".hotel"
			oneStatement := map[string]string{
				"set_config role none": "SELECT set_config('role', 'none', true) || query_to_xml('" + other + "', true, false, '')::text",
				"set_config session role": "SELECT set_config('role', '" + e.db.Role + "', true) || " +
					"query_to_xml('" + other + "', true, false, '')::text",
				"reset role inside query_to_xml": "SELECT query_to_xml('reset role', true, false, '')::text || query_to_xml('" + other + "', true, false, '')::text",
			}
			for probe, sql := range oneStatement {
				t.Run(probe, func(t *testing.T) {
					tctx := condo.WithTenant(ctx, acme)
					var got []string
					qerr := e.reg.QueryTenant(tctx, func(rows pgx.Rows) error {
						var err error
						got, err = pgx.CollectRows(rows, pgx.RowTo[string])
						return err
					}, sql)
					var got2 string
					txerr := e.reg.InTenantTx(tctx, func(ctx context.Context, tx pgx.Tx) error {
						if err := tx.QueryRow(ctx, sql).Scan(&got2); err != nil {
							return err
						}
						return errRollback
					})
					escaped := qerr == nil && strings.Contains(strings.Join(got, ""), "globex secret")
					escapedTx := errors.Is(txerr, errRollback) && strings.Contains(got2, "globex secret")
					want := !hardened && probe != "reset role inside query_to_xml"
					if escaped != want || escapedTx != want {
						t.Fatalf("QueryTenant escaped %v (%v), InTenantTx escaped %v (%v); want %v", escaped, qerr, escapedTx, txerr, want)
					}
					if hardened && probe != "reset role inside query_to_xml" {
						var pe *pgconn.PgError
						if !errors.As(qerr, &pe) || pe.Code != "42501" {
							t.Fatalf("QueryTenant: got %v, want insufficient_privilege", qerr)
						}
					}
				})
			}
			// Stacked statements: InTx's tx.Exec refuses them, arguments
			// or not (pgx alone sends an Exec without arguments with the
			// simple protocol, which runs them all).
			t.Run("stacked through tx.Exec", func(t *testing.T) {
				err := e.reg.InTenantTx(condo.WithTenant(ctx, acme), func(ctx context.Context, tx pgx.Tx) error {
					_, err := tx.Exec(ctx, "SELECT 1; RESET ROLE; SELECT * FROM "+globex.Schema+".hotel")
					return err
				})
				var pe *pgconn.PgError
				if !errors.As(err, &pe) || pe.Code != "42601" {
					t.Fatalf("got %v, want syntax_error (several commands refused)", err)
				}
			})
			// Through the simple protocol, chosen explicitly, they still
			// leave the tenant role: RESET ROLE needs no privilege.
			// Measured, the documented limit.
			t.Run("stacked through the simple protocol", func(t *testing.T) {
				var user string
				err := e.reg.InTenantTx(condo.WithTenant(ctx, acme), func(ctx context.Context, tx pgx.Tx) error {
					_, err := tx.Exec(ctx, "SELECT 1; RESET ROLE; CREATE TEMP TABLE leak AS "+other, pgx.QueryExecModeSimpleProtocol)
					if err != nil {
						return err
					}
					if err := tx.QueryRow(ctx, "SELECT name || '/' || current_user FROM pg_temp.leak").Scan(&user); err != nil {
						return err
					}
					return errRollback
				})
				if !errors.Is(err, errRollback) || !strings.HasPrefix(user, "globex secret/"+e.db.Role) {
					t.Fatalf("got %q, %v; want the login role to read globex (the documented limit)", user, err)
				}
			})
			st, err := condo.CheckHardening(ctx, e.pool)
			if err != nil {
				t.Fatal(err)
			}
			if st.SetConfigRevoked != hardened || !st.SetConfigGranted || st.Superuser || !st.CreateRole || len(st.RuntimeRoles) != 0 {
				t.Fatalf("CheckHardening = %+v, want SetConfigRevoked %v", st, hardened)
			}
		})
	}
}

// TestTenantRoleMembership checks how the login role holds a tenant role:
// from PostgreSQL 16 on it may SET ROLE to it without inheriting its
// privileges (WITH INHERIT FALSE, SET TRUE); before, it inherits.
func TestTenantRoleMembership(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	ten := e.create(t, "acme")
	var version int
	if err := e.pool.QueryRow(t.Context(), "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		t.Fatal(err)
	}
	setPriv := "SET"
	if version < 160000 {
		setPriv = "MEMBER" // no SET option before 16: members may SET ROLE
	}
	var usage, set bool
	err := e.pool.QueryRow(t.Context(), "SELECT pg_has_role(current_user, $1, 'USAGE'), pg_has_role(current_user, $1, $2)",
		ten.Role, setPriv).Scan(&usage, &set)
	if err != nil {
		t.Fatal(err)
	}
	if wantUsage := version < 160000; usage != wantUsage || !set {
		t.Fatalf("server %d: login role inherits tenant role %v (want %v), may set it %v (want true)", version, usage, wantUsage, set)
	}
	// Purging still drops the role, whatever the membership.
	if err := e.reg.Delete(t.Context(), "acme", &condo.DeleteOpts{Purge: true}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := e.pool.QueryRow(t.Context(), "SELECT count(*) FROM pg_roles WHERE rolname = $1", ten.Role).Scan(&n); err != nil || n != 0 {
		t.Fatalf("tenant role left after purge: %d, %v", n, err)
	}
}

// TestSplitRoles runs tenant transactions on a runtime role that owns
// nothing: the tenant paths work, and SQL that leaves the tenant role
// (stacked statements) reaches the other tenants by SET ROLE but neither
// the registry nor DDL nor roles.
func TestSplitRoles(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, &condotest.DatabaseOpts{Runtime: true})
	ctx := t.Context()
	m, err := condomigrate.New(db.Pool, &condomigrate.Config{Tenant: condotest.HotelMigrations(), Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	reg := condo.NewRegistry(db.Pool, m, &condo.RegistryConfig{TenantPool: db.RuntimePool, Logger: condotest.Logger(t)})
	if reg.TenantPool() != db.RuntimePool {
		t.Fatal("TenantPool is not the runtime pool")
	}
	if st, err := condo.CheckHardening(ctx, db.Pool); err != nil || len(st.RuntimeRoles) != 1 || st.RuntimeRoles[0] != db.RuntimeRole {
		t.Fatalf("CheckHardening: %+v, %v; want runtime role %s", st, err, db.RuntimeRole)
	}
	var tenants []*condo.Tenant
	for _, slug := range []string{"acme", "globex"} {
		ten, err := reg.Create(ctx, condo.CreateParams{Slug: slug, Name: slug})
		if err != nil {
			t.Fatal(err)
		}
		tenants = append(tenants, ten)
		err = reg.InTx(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
			var user string
			if err := tx.QueryRow(ctx, "SELECT session_user::text").Scan(&user); err != nil {
				return err
			}
			if user != db.RuntimeRole {
				return fmt.Errorf("tenant transaction runs as %s, want %s", user, db.RuntimeRole)
			}
			_, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) VALUES ($1, 'Rome', 3)", slug+" hotel")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	acme, globex := tenants[0], tenants[1]
	var names []string
	err = reg.QueryTenant(condo.WithTenant(ctx, acme), func(rows pgx.Rows) error {
		var err error
		names, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	}, "SELECT name FROM hotel")
	if err != nil || len(names) != 1 || names[0] != "acme hotel" {
		t.Fatalf("QueryTenant on the runtime pool: %v, %v", names, err)
	}
	stacked := map[string]struct {
		sql   string
		reach bool
	}{
		"other tenant by SET ROLE": {"RESET ROLE; SET ROLE " + globex.Role + "; SELECT * FROM " + globex.Schema + ".hotel", true},
		"other tenant directly":    {"RESET ROLE; SELECT * FROM " + globex.Schema + ".hotel", false},
		"registry":                 {"RESET ROLE; SELECT * FROM public.condo_tenants", false},
		"drop a tenant's schema":   {"RESET ROLE; DROP SCHEMA " + globex.Schema + " CASCADE", false},
		"create a role":            {"RESET ROLE; CREATE ROLE " + db.RuntimeRole + "_x", false},
		"create in public":         {"RESET ROLE; CREATE TABLE public.x (id int)", false},
	}
	for name, c := range stacked {
		t.Run(name, func(t *testing.T) {
			err := reg.InTx(ctx, acme, func(ctx context.Context, tx pgx.Tx) error {
				// The simple protocol, as an application may choose.
				if _, err := tx.Exec(ctx, c.sql, pgx.QueryExecModeSimpleProtocol); err != nil {
					return err
				}
				return errRollback
			})
			var pe *pgconn.PgError
			switch {
			case c.reach && !errors.Is(err, errRollback):
				t.Fatalf("got %v, want it to get through (the documented limit)", err)
			case !c.reach && (!errors.As(err, &pe) || pe.Code != "42501"):
				t.Fatalf("got %v, want insufficient_privilege", err)
			}
		})
	}
	// A registry without a TenantPool (the CLI's) grants new tenant roles
	// to the recorded runtime role too.
	plain := condo.NewRegistry(db.Pool, m, &condo.RegistryConfig{Logger: condotest.Logger(t)})
	initech, err := plain.Create(ctx, condo.CreateParams{Slug: "initech", Name: "initech"})
	if err != nil {
		t.Fatal(err)
	}
	var member bool
	if err := db.Pool.QueryRow(ctx, "SELECT pg_has_role($1, $2, 'MEMBER')", db.RuntimeRole, initech.Role).Scan(&member); err != nil || !member {
		t.Fatalf("runtime role member of a tenant made by another registry: %v, %v", member, err)
	}
	// Idempotent, and catches up a membership that is missing.
	if res, err := condo.GrantRuntime(ctx, db.Pool, db.RuntimeRole, nil); err != nil || res.TenantRoles != 0 || !res.SetConfig {
		t.Fatalf("GrantRuntime again: %+v, %v", res, err)
	}
	if _, err := db.Pool.Exec(ctx, "REVOKE "+initech.Role+" FROM "+db.RuntimeRole); err != nil {
		t.Fatal(err)
	}
	if res, err := condo.GrantRuntime(ctx, db.Pool, db.RuntimeRole, nil); err != nil || res.TenantRoles != 1 {
		t.Fatalf("GrantRuntime after a membership was revoked: %+v, %v", res, err)
	}
	if _, err := condo.GrantRuntime(ctx, db.Pool, db.Role, nil); !errors.Is(err, condo.ErrRuntimeIsOwner) {
		t.Fatalf("GrantRuntime(owner): got %v, want ErrRuntimeIsOwner", err)
	}
	// The owner still purges.
	if err := reg.Delete(ctx, "globex", &condo.DeleteOpts{Purge: true}); err != nil {
		t.Fatal(err)
	}
}

func TestHardenSQL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		roles []string
		want  string // a line of the SQL; "" when an error is wanted
	}{
		{"owner", []string{"app"}, `GRANT EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) TO "app" WITH GRANT OPTION;`},
		{"quoted", []string{`My"Role`}, `TO "My""Role" WITH GRANT OPTION;`},
		{"no role", nil, ""},
		{"empty role", []string{"app", ""}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sql, err := condo.HardenSQL(tt.roles...)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("HardenSQL(%q) = %q, want an error", tt.roles, sql)
				}
				return
			}
			if err != nil || !strings.HasPrefix(sql, "REVOKE EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) FROM PUBLIC;\n") || !strings.Contains(sql, tt.want) {
				t.Fatalf("HardenSQL(%q) = %q, %v; want the REVOKE and %q", tt.roles, sql, err, tt.want)
			}
		})
	}
}

// TestGrantRuntimeTables: the runtime role gets exactly the declared
// privileges on the application's shared tables, and bad declarations are
// refused before anything is granted.
func TestGrantRuntimeTables(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := condotest.NewDatabaseInfo(t, &condotest.DatabaseOpts{Runtime: true})
	if _, err := db.Pool.Exec(ctx, `CREATE TABLE public.notes (id int); CREATE TABLE public.secrets (v text)`); err != nil {
		t.Fatal(err)
	}
	refused := []struct {
		name string
		g    condo.TableGrant
	}{
		{"condo's table", condo.TableGrant{Table: "condo_cert_storage", Privileges: []string{"SELECT"}}},
		{"qualified", condo.TableGrant{Table: "public.notes", Privileges: []string{"SELECT"}}},
		{"injection", condo.TableGrant{Table: `notes; DROP TABLE secrets`, Privileges: []string{"SELECT"}}},
		{"truncate", condo.TableGrant{Table: "notes", Privileges: []string{"TRUNCATE"}}},
		{"privilege injection", condo.TableGrant{Table: "notes", Privileges: []string{"SELECT ON secrets TO PUBLIC; GRANT ALL"}}},
		{"no privileges", condo.TableGrant{Table: "notes"}},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			res, err := condo.GrantRuntime(ctx, db.Pool, db.RuntimeRole, &condo.GrantRuntimeOpts{Tables: []condo.TableGrant{c.g}})
			if err == nil {
				t.Fatalf("GrantRuntime(%+v) = %+v, want an error", c.g, res)
			}
		})
	}
	res, err := condo.GrantRuntime(ctx, db.Pool, db.RuntimeRole, &condo.GrantRuntimeOpts{Tables: []condo.TableGrant{
		{Table: "notes", Privileges: []string{"select", "INSERT"}},
	}})
	if err != nil || res.Tables != 1 {
		t.Fatalf("GrantRuntime: %+v, %v", res, err)
	}
	shared, err := condo.SharedRoleName(db.RuntimeRole)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		role, table, priv string
		want              bool
	}{
		{shared, "public.notes", "SELECT", true},
		{shared, "public.notes", "INSERT", true},
		{shared, "public.notes", "UPDATE", false},
		{shared, "public.notes", "DELETE", false},
		{shared, "public.secrets", "SELECT", false},
		{shared, "public.condo_tenants", "SELECT", false},
		{shared, "public.condo_cert_storage", "SELECT", false},
		// The runtime role itself holds nothing: only by SET ROLE.
		{db.RuntimeRole, "public.notes", "SELECT", false},
	} {
		var got bool
		if err := db.Pool.QueryRow(ctx, "SELECT has_table_privilege($1, $2, $3)", c.role, c.table, c.priv).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s %s on %s: got %v, want %v", c.role, c.priv, c.table, got, c.want)
		}
	}
	// Idempotent.
	if _, err := condo.GrantRuntime(ctx, db.Pool, db.RuntimeRole, &condo.GrantRuntimeOpts{Tables: []condo.TableGrant{{Table: "notes", Privileges: []string{"SELECT"}}}}); err != nil {
		t.Fatalf("GrantRuntime again: %v", err)
	}

	// SharedPool runs every call as the shared role.
	sp := condo.NewSharedPool(db.RuntimePool, shared)
	if _, err := sp.Exec(ctx, "INSERT INTO public.notes VALUES ($1)", 1); err != nil {
		t.Fatalf("Exec: %v", err)
	}
	var who string
	var n int
	if err := sp.QueryRow(ctx, "SELECT current_user::text, (SELECT count(*) FROM public.notes)::int").Scan(&who, &n); err != nil || who != shared || n != 1 {
		t.Fatalf("QueryRow: %s, %d, %v; want %s, 1", who, n, err, shared)
	}
	rows, err := sp.Query(ctx, "SELECT id FROM public.notes")
	if err != nil {
		t.Fatal(err)
	}
	if ids, err := pgx.CollectRows(rows, pgx.RowTo[int32]); err != nil || len(ids) != 1 {
		t.Fatalf("Query: %v, %v", ids, err)
	}
	if err := sp.QueryRow(ctx, "SELECT id FROM public.notes WHERE id = 2").Scan(&n); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("QueryRow of no row: got %v, want pgx.ErrNoRows", err)
	}
	err = pgx.BeginFunc(ctx, sp, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, "SELECT current_user::text").Scan(&who)
	})
	if err != nil || who != shared {
		t.Fatalf("Begin: %s, %v; want %s", who, err, shared)
	}
	// And the role ends with the transaction: the pool's connections are
	// the runtime role's again.
	if err := db.RuntimePool.QueryRow(ctx, "SELECT current_user::text").Scan(&who); err != nil || who != db.RuntimeRole {
		t.Fatalf("after: %s, %v; want %s", who, err, db.RuntimeRole)
	}
	// What the shared role may not do, each in one statement.
	for name, sql := range map[string]string{
		"other table":     "SELECT v FROM public.secrets",
		"update":          "UPDATE public.notes SET id = 3",
		"leave the role":  "SELECT set_config('role', 'none', true)",
		"registry":        "SELECT slug FROM public.condo_tenants",
		"create a table":  "CREATE TABLE public.evil (x int)",
		"certificate key": "SELECT value FROM public.condo_cert_storage",
	} {
		_, err := sp.Exec(ctx, sql)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" {
			t.Errorf("%s: got %v, want insufficient_privilege", name, err)
		}
	}
}
