package condotest

import (
	"testing"

	"github.com/jackc/pgx/v5"
)

// A test database stands for a managed one: its role may log in and create
// roles, owns the database and its public schema, and is nothing more: no
// superuser, no CREATEDB, no replication, no bypassing row security. The
// URL handed to serve and CLI processes is that role's too.
func TestDatabaseRoleIsManagedLike(t *testing.T) {
	t.Parallel()
	db := NewDatabaseInfo(t, &DatabaseOpts{SkipMigrations: true})
	var (
		user                                      string
		super, createRole, createDB, repl, bypass bool
		ownsDB, ownsPublic                        bool
	)
	err := db.Pool.QueryRow(t.Context(), `
		SELECT current_user, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls,
		       d.datdba = r.oid, n.nspowner = r.oid
		FROM pg_catalog.pg_roles r, pg_catalog.pg_database d, pg_catalog.pg_namespace n
		WHERE r.rolname = current_user AND d.datname = current_database() AND n.nspname = 'public'`).
		Scan(&user, &super, &createRole, &createDB, &repl, &bypass, &ownsDB, &ownsPublic)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{"superuser": super, "createrole": createRole, "createdb": createDB,
		"replication": repl, "bypassrls": bypass, "owns database": ownsDB, "owns public": ownsPublic}
	want := map[string]bool{"superuser": false, "createrole": true, "createdb": false,
		"replication": false, "bypassrls": false, "owns database": true, "owns public": true}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("role %s: %s = %v, want %v", user, k, got[k], w)
		}
	}
	if user != db.Role {
		t.Errorf("pool connects as %s, want %s", user, db.Role)
	}
	cfg, err := pgx.ParseConfig(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.User != db.Role {
		t.Errorf("URL connects as %s, want %s", cfg.User, db.Role)
	}
}
