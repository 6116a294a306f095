package condo_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condotest"
)

// testSecretKey seals tenant passwords in tests.
var testSecretKey = bytes.Repeat([]byte{0x42}, 32)

// newTierEnv is newEnv with an owner that may create databases and a
// registry with the secret key; cfg adds to the registry's config.
func newTierEnv(t testing.TB, tenantFS fstest.MapFS, cfg *condo.RegistryConfig) *env {
	t.Helper()
	db := condotest.NewDatabaseInfo(t, &condotest.DatabaseOpts{CreateDB: true})
	if tenantFS == nil {
		tenantFS = condotest.HotelMigrations()
	}
	m, err := condomigrate.New(db.Pool, &condomigrate.Config{Tenant: tenantFS, Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatalf("migrator: %v", err)
	}
	if cfg == nil {
		cfg = &condo.RegistryConfig{}
	}
	cfg.Logger = condotest.Logger(t)
	cfg.SecretKey = testSecretKey
	reg := condo.NewRegistry(db.Pool, m, cfg)
	t.Cleanup(reg.Close)
	return &env{pool: db.Pool, migrator: m, reg: reg, db: db}
}

func (e *env) createDB(t testing.TB, slug string) *condo.Tenant {
	t.Helper()
	ten, err := e.reg.Create(t.Context(), condo.CreateParams{Slug: slug, Name: "Tenant " + slug, Tier: condo.TierDatabase})
	if err != nil {
		t.Fatalf("create %s in the database tier: %v", slug, err)
	}
	return ten
}

// exists reports whether the database or role named name exists.
func exists(t testing.TB, pool *pgxpool.Pool, catalog, name string) bool {
	t.Helper()
	col := map[string]string{"pg_database": "datname", "pg_roles": "rolname"}[catalog]
	var ok bool
	if err := pool.QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_catalog."+catalog+" WHERE "+col+" = $1)", name).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestTierDatabaseLifecycle(t *testing.T) {
	t.Parallel()
	e := newTierEnv(t, nil, nil)
	ctx := t.Context()
	ten := e.createDB(t, "acme")
	if ten.Tier != condo.TierDatabase || ten.Server != "" || ten.Database == "" || ten.Schema != "tenant_"+strings.TrimPrefix(ten.Schema, "tenant_") {
		t.Fatalf("created %+v", ten)
	}
	got, err := e.reg.Get(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if got.Tier != condo.TierDatabase || got.Database != ten.Database || got.MigrationVersion != 1 {
		t.Errorf("Get = tier %q database %q version %d; want database, %q, 1", got.Tier, got.Database, got.MigrationVersion, ten.Database)
	}
	var sealed []byte
	if err := e.pool.QueryRow(ctx, "SELECT role_password FROM public.condo_tenants WHERE id = $1", ten.ID).Scan(&sealed); err != nil || len(sealed) < 40 {
		t.Fatalf("sealed password: %d bytes, %v", len(sealed), err)
	}

	// Served as its own role, in its own database, with the same schema
	// name: the application's SQL does not change.
	err = e.reg.InTx(ctx, got, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) VALUES ('Ritz', 'Paris', 5)"); err != nil {
			return err
		}
		var user, session, db, path string
		if err := tx.QueryRow(ctx, "SELECT current_user, session_user, current_database(), current_setting('search_path')").Scan(&user, &session, &db, &path); err != nil {
			return err
		}
		if user != ten.Role || session != ten.Role || db != ten.Database || path != ten.Schema {
			t.Errorf("tenant tx: user %q session %q database %q search_path %q; want %q, %q, %q, %q", user, session, db, path, ten.Role, ten.Role, ten.Database, ten.Schema)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("InTx: %v", err)
	}
	var names []string
	err = e.reg.QueryTenant(condo.WithTenant(ctx, got), func(rows pgx.Rows) error {
		var err error
		names, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	}, "SELECT name FROM hotel WHERE stars >= $1", 4)
	if err != nil || len(names) != 1 || names[0] != "Ritz" {
		t.Fatalf("QueryTenant = %v, %v; want [Ritz]", names, err)
	}

	if err := e.reg.Rename(ctx, "acme", "acme2"); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.Suspend(ctx, "acme2"); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.Resume(ctx, "acme2"); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.Delete(ctx, "acme2", nil); err != nil {
		t.Fatal(err)
	}
	if !exists(t, e.pool, "pg_database", ten.Database) {
		t.Fatal("a deleted (not purged) tenant's database is gone")
	}
	if err := e.reg.Restore(ctx, "acme2"); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.Delete(ctx, "acme2", &condo.DeleteOpts{Purge: true}); err != nil {
		t.Fatalf("purge: %v", err)
	}
	if exists(t, e.pool, "pg_database", ten.Database) || exists(t, e.pool, "pg_roles", ten.Role) {
		t.Error("purge left the database or the role")
	}
	if _, err := e.reg.Get(ctx, "acme2"); !errors.Is(err, condo.ErrTenantNotFound) {
		t.Errorf("Get after purge: got %v, want ErrTenantNotFound", err)
	}
	if orphans, err := e.reg.OrphanDatabases(ctx); err != nil || len(orphans) != 0 {
		t.Errorf("OrphanDatabases = %v, %v; want none", orphans, err)
	}
}

// TestTierDatabaseCreateFails: a creation that fails at any step after
// CREATE DATABASE leaves no database, no role and no registry row.
func TestTierDatabaseCreateFails(t *testing.T) {
	t.Parallel()
	bad := condotest.HotelMigrations()
	bad["0002_broken.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE broken (id nosuchtype);")}
	hookErr := errors.New("hook says no")
	for _, tc := range []struct {
		name string
		fs   fstest.MapFS
		hook condo.OnTenantCreatedFunc
		want error
	}{
		{name: "migration", fs: bad},
		{name: "hook", hook: func(context.Context, pgx.Tx, *condo.Tenant) error { return hookErr }, want: hookErr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newTierEnv(t, tc.fs, nil)
			ctx := t.Context()
			_, err := e.reg.Create(ctx, condo.CreateParams{Slug: "doomed", Name: "Doomed", Tier: condo.TierDatabase, OnCreated: tc.hook})
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("Create = %v, want an error (%v)", err, tc.want)
			}
			var n int
			if err := e.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_catalog.pg_database WHERE starts_with(datname, $1))
				+ (SELECT count(*) FROM pg_catalog.pg_roles WHERE starts_with(rolname, $1))
				+ (SELECT count(*) FROM public.condo_tenants)`, e.db.Role+"_tenant_").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("a failed creation left %d databases, roles or rows", n)
			}
			if orphans, err := e.reg.OrphanDatabases(ctx); err != nil || len(orphans) != 0 {
				t.Errorf("OrphanDatabases = %v, %v; want none", orphans, err)
			}
		})
	}
}

func TestTierDatabaseErrors(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, &condotest.DatabaseOpts{CreateDB: true})
	m, err := condomigrate.New(db.Pool, &condomigrate.Config{Tenant: condotest.HotelMigrations()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	noKey := condo.NewRegistry(db.Pool, m, &condo.RegistryConfig{Logger: condotest.Logger(t)})
	if _, err := noKey.Create(ctx, condo.CreateParams{Slug: "a", Name: "A", Tier: condo.TierDatabase}); !errors.Is(err, condo.ErrNoSecretKey) {
		t.Errorf("no key: got %v, want ErrNoSecretKey", err)
	}
	shortKey := condo.NewRegistry(db.Pool, m, &condo.RegistryConfig{SecretKey: []byte("short"), Logger: condotest.Logger(t)})
	if _, err := shortKey.Create(ctx, condo.CreateParams{Slug: "a", Name: "A", Tier: condo.TierDatabase}); !errors.Is(err, condo.ErrNoSecretKey) || strings.Contains(err.Error(), "short") {
		t.Errorf("short key: got %v, want ErrNoSecretKey without the key", err)
	}
	reg := condo.NewRegistry(db.Pool, m, &condo.RegistryConfig{SecretKey: testSecretKey, Logger: condotest.Logger(t)})
	defer reg.Close()
	if _, err := reg.Create(ctx, condo.CreateParams{Slug: "a", Name: "A", Tier: condo.TierDatabase, Server: "nowhere"}); !errors.Is(err, condo.ErrUnknownServer) {
		t.Errorf("unknown server: got %v, want ErrUnknownServer", err)
	}
	if _, err := reg.Create(ctx, condo.CreateParams{Slug: "a", Name: "A"}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Create(ctx, condo.CreateParams{Slug: "a", Name: "A", Tier: condo.TierDatabase}); !errors.Is(err, condo.ErrTenantExists) {
		t.Errorf("taken slug: got %v, want ErrTenantExists", err)
	}
}

// TestTierDatabaseHook: a database-tier tenant's creation hook runs in the
// registry's transaction (shared tables, schema-qualified, commit with the
// tenant's row) and reaches the tenant's own tables through InTx; its
// error undoes both.
func TestTierDatabaseHook(t *testing.T) {
	t.Parallel()
	e := newTierEnv(t, nil, nil)
	ctx := t.Context()
	if _, err := e.pool.Exec(ctx, "CREATE TABLE public.signups (tenant_id bigint PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	hook := func(fail bool) condo.OnTenantCreatedFunc {
		return func(ctx context.Context, tx pgx.Tx, ten *condo.Tenant) error {
			if _, err := tx.Exec(ctx, "INSERT INTO public.signups VALUES ($1)", ten.ID); err != nil {
				return err
			}
			if err := e.reg.InTx(ctx, ten, func(ctx context.Context, ttx pgx.Tx) error {
				_, err := ttx.Exec(ctx, "INSERT INTO hotel (name, city, stars) VALUES ('Seed', 'C', 3)")
				return err
			}); err != nil {
				return err
			}
			if fail {
				return errors.New("no")
			}
			return nil
		}
	}
	ten, err := e.reg.Create(ctx, condo.CreateParams{Slug: "ok", Name: "OK", Tier: condo.TierDatabase, OnCreated: hook(false)})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := e.pool.QueryRow(ctx, "SELECT count(*) FROM public.signups WHERE tenant_id = $1", ten.ID).Scan(&n); err != nil || n != 1 {
		t.Errorf("shared row: %d, %v", n, err)
	}
	if err := e.reg.QueryTenant(condo.WithTenant(ctx, ten), func(rows pgx.Rows) error {
		_, err := pgx.ForEachRow(rows, []any{&n}, func() error { return nil })
		return err
	}, "SELECT count(*)::int FROM hotel"); err != nil || n != 1 {
		t.Errorf("seeded rows: %d, %v", n, err)
	}
	if _, err := e.reg.Create(ctx, condo.CreateParams{Slug: "no", Name: "No", Tier: condo.TierDatabase, OnCreated: hook(true)}); err == nil {
		t.Fatal("a failing hook: created")
	}
	if err := e.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM public.signups) + (SELECT count(*) FROM public.condo_tenants)
		+ (SELECT count(*) FROM pg_catalog.pg_database WHERE starts_with(datname, $1))`, e.db.Role+"_tenant_").Scan(&n); err != nil || n != 3 {
		t.Errorf("after a failing hook: %d shared rows, tenants and databases, want 3 (the first tenant's); %v", n, err)
	}
}

// TestTierCitusRefused: on a Citus coordinator, where CREATE DATABASE
// would make a database on the coordinator alone, the database tier is
// refused before anything is made.
func TestTierCitusRefused(t *testing.T) {
	t.Parallel()
	db := condotest.NewCitusDatabase(t, nil)
	m, err := condomigrate.New(db.Pool, &condomigrate.Config{Tenant: condotest.HotelMigrations(), Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	reg := condo.NewRegistry(db.Pool, m, &condo.RegistryConfig{SecretKey: testSecretKey, Logger: condotest.Logger(t)})
	defer reg.Close()
	_, err = reg.Create(t.Context(), condo.CreateParams{Slug: "acme", Name: "Acme", Tier: condo.TierDatabase})
	if !errors.Is(err, condo.ErrTierUnsupported) {
		t.Fatalf("got %v, want ErrTierUnsupported", err)
	}
	if exists(t, db.Pool, "pg_roles", db.Role+"_tenant_1") {
		t.Error("a refused creation made a role")
	}
}

// TestTierExport: a database-tier tenant's export imports as a tenant of
// the schema tier with the same rows.
func TestTierExport(t *testing.T) {
	t.Parallel()
	e := newTierEnv(t, nil, nil)
	ctx := t.Context()
	ten := e.createDB(t, "big")
	if err := e.reg.InTx(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) SELECT 'H' || i, 'C', 3 FROM generate_series(1, 50) i")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := e.reg.Export(ctx, "big", &buf); err != nil {
		t.Fatalf("Export: %v", err)
	}
	imp, err := e.reg.Import(ctx, &buf, condo.ImportParams{Slug: "copy"})
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	var n int
	if err := e.reg.QueryTenant(condo.WithTenant(ctx, imp), func(rows pgx.Rows) error {
		_, err := pgx.ForEachRow(rows, []any{&n}, func() error { return nil })
		return err
	}, "SELECT count(*)::int FROM hotel"); err != nil || n != 50 || imp.Tier != condo.TierSchema {
		t.Errorf("imported %s tenant with %d hotels (%v); want schema, 50", imp.Tier, n, err)
	}
}
