package condomigrate_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condotest"
)

const v1 = `CREATE TABLE hotel (
    id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name  varchar(100) NOT NULL,
    city  varchar(100) NOT NULL,
    stars smallint NOT NULL
);`

// W2's migration.
const v2 = `ALTER TABLE hotel ADD COLUMN rating numeric(3,1);
CREATE INDEX hotel_city_idx ON hotel (city);`

func lines(extra map[string]string) fstest.MapFS {
	fs := fstest.MapFS{"0001_hotel.sql": {Data: []byte(v1)}}
	for k, v := range extra {
		fs[k] = &fstest.MapFile{Data: []byte(v)}
	}
	return fs
}

func newMigrator(t testing.TB, pool *pgxpool.Pool, tenant fstest.MapFS) *condomigrate.Migrator {
	t.Helper()
	m, err := condomigrate.New(pool, &condomigrate.Config{Tenant: tenant, Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func createTenants(t testing.TB, pool *pgxpool.Pool, m *condomigrate.Migrator, n int) *condo.Registry {
	t.Helper()
	reg := condo.NewRegistry(pool, m, &condo.RegistryConfig{Logger: condotest.Logger(t)})
	for i := 1; i <= n; i++ {
		if _, err := reg.Create(t.Context(), condo.CreateParams{Slug: fmt.Sprintf("t%04d", i), Name: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

func columns(t testing.TB, pool *pgxpool.Pool, schema string) []string {
	t.Helper()
	rows, _ := pool.Query(t.Context(), `SELECT column_name::text FROM information_schema.columns
		WHERE table_schema = $1 AND table_name = 'hotel' ORDER BY ordinal_position`, schema)
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return cols
}

func TestFleetMigrationPartialFailureAndResume(t *testing.T) {
	t.Parallel()
	pool := condotest.NewDatabase(t)
	ctx := t.Context()
	reg := createTenants(t, pool, newMigrator(t, pool, lines(nil)), 6)
	bad, err := reg.Get(ctx, "t0003")
	if err != nil {
		t.Fatal(err)
	}
	// Make one tenant's migration fail halfway: an index name it already uses.
	if _, err := pool.Exec(ctx, "CREATE INDEX hotel_city_idx ON "+bad.Schema+".hotel (name)"); err != nil {
		t.Fatal(err)
	}
	before := columns(t, pool, bad.Schema)

	m2 := newMigrator(t, pool, lines(map[string]string{"0002_rating.sql": v2}))
	var progress []condomigrate.Progress
	res, err := m2.MigrateTenants(ctx, reg, &condomigrate.TenantOpts{Parallel: 3, Progress: func(p condomigrate.Progress) { progress = append(progress, p) }})
	var pe *condomigrate.PartialError
	if !errors.As(err, &pe) || len(pe.Failed) != 1 || pe.Failed[0].Tenant != "t0003" || pe.Failed[0].Version != 2 {
		t.Fatalf("got %v, want a PartialError for t0003 at version 2", err)
	}
	if len(res.Migrated) != 5 || len(progress) != 6 || progress[len(progress)-1].Done != 6 {
		t.Fatalf("migrated %v, progress %v", res.Migrated, progress)
	}
	if got := columns(t, pool, bad.Schema); !slices.Equal(got, before) {
		t.Fatalf("failed tenant changed: %v → %v", before, got)
	}
	if got, _ := reg.Get(ctx, "t0003"); got.MigrationVersion != 1 {
		t.Fatalf("failed tenant version %d, want 1", got.MigrationVersion)
	}
	ok, _ := reg.Get(ctx, "t0001")
	if got := columns(t, pool, ok.Schema); !slices.Contains(got, "rating") || ok.MigrationVersion != 2 {
		t.Fatalf("migrated tenant: %v version %d", got, ok.MigrationVersion)
	}

	// Resume: fix the cause, run again; only the failed tenant is touched.
	if _, err := pool.Exec(ctx, "DROP INDEX "+bad.Schema+".hotel_city_idx"); err != nil {
		t.Fatal(err)
	}
	res, err = m2.MigrateTenants(ctx, reg, nil)
	if err != nil || !slices.Equal(res.Migrated, []string{"t0003"}) || res.UpToDate != 5 {
		t.Fatalf("resume: %+v, %v", res, err)
	}
	// Nothing to do.
	res, err = m2.MigrateTenants(ctx, reg, nil)
	if err != nil || len(res.Pending) != 0 || res.UpToDate != 6 {
		t.Fatalf("no-op run: %+v, %v", res, err)
	}
	// The tenant role can use the new column (default privileges).
	err = reg.InTx(ctx, ok, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars, rating) VALUES ('a', 'b', 3, 4.5)")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestStopOnErrorAndDryRun(t *testing.T) {
	t.Parallel()
	pool := condotest.NewDatabase(t)
	ctx := t.Context()
	reg := createTenants(t, pool, newMigrator(t, pool, lines(nil)), 4)
	broken := newMigrator(t, pool, lines(map[string]string{"0002_boom.sql": "SELECT 1/0"}))
	dry, err := broken.MigrateTenants(ctx, reg, &condomigrate.TenantOpts{DryRun: true})
	if err != nil || len(dry.Pending) != 4 || len(dry.Migrated) != 0 {
		t.Fatalf("dry run: %+v, %v", dry, err)
	}
	res, err := broken.MigrateTenants(ctx, reg, &condomigrate.TenantOpts{Parallel: 1, StopOnError: true})
	if err == nil || len(res.Failed) != 1 {
		t.Fatalf("stop on error: %+v, %v", res, err)
	}
	if _, err := broken.MigrateTenants(ctx, reg, &condomigrate.TenantOpts{Slug: "nope"}); !errors.Is(err, condo.ErrTenantNotFound) {
		t.Fatalf("unknown slug: %v", err)
	}
}

func TestEditedMigrationRefused(t *testing.T) {
	t.Parallel()
	pool := condotest.NewDatabase(t)
	ctx := t.Context()
	reg := createTenants(t, pool, newMigrator(t, pool, lines(nil)), 2)
	edited := newMigrator(t, pool, fstest.MapFS{
		"0001_hotel.sql":  {Data: []byte(v1 + "\n-- edited")},
		"0002_rating.sql": {Data: []byte(v2)},
	})
	if _, err := edited.MigrateTenants(ctx, reg, nil); !errors.Is(err, condomigrate.ErrChecksumMismatch) {
		t.Fatalf("got %v, want ErrChecksumMismatch", err)
	}
	if _, err := condo.NewRegistry(pool, edited, nil).Create(ctx, condo.CreateParams{Slug: "new", Name: "x"}); !errors.Is(err, condomigrate.ErrChecksumMismatch) {
		t.Fatalf("create with edited migration: got %v, want ErrChecksumMismatch", err)
	}
	missing := newMigrator(t, pool, fstest.MapFS{"0002_rating.sql": {Data: []byte(v2)}})
	if _, err := missing.MigrateTenants(ctx, reg, nil); !errors.Is(err, condomigrate.ErrUnknownVersion) {
		t.Fatalf("got %v, want ErrUnknownVersion", err)
	}
}

func TestSharedMigrations(t *testing.T) {
	t.Parallel()
	pool := condotest.NewDatabase(t)
	ctx := t.Context()
	shared := fstest.MapFS{"0001_users.sql": {Data: []byte("CREATE TABLE users (id bigint PRIMARY KEY, email text)")}}
	m, err := condomigrate.New(pool, &condomigrate.Config{Shared: shared})
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.MigrateShared(ctx, &condomigrate.SharedOpts{DryRun: true})
	if err != nil || len(res.Applied) != 1 {
		t.Fatalf("dry run: %+v %v", res, err)
	}
	if _, err := m.MigrateShared(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "INSERT INTO public.users VALUES (1, 'a@b.c')"); err != nil {
		t.Fatalf("shared table not in public: %v", err)
	}
	// A failing shared migration leaves nothing behind.
	shared["0002_bad.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE t2 (id int); SELECT 1/0;")}
	m, _ = condomigrate.New(pool, &condomigrate.Config{Shared: shared})
	if _, err := m.MigrateShared(ctx, nil); err == nil {
		t.Fatal("failing shared migration succeeded")
	}
	var exists bool
	_ = pool.QueryRow(ctx, "SELECT to_regclass('public.t2') IS NOT NULL").Scan(&exists)
	if exists {
		t.Fatal("failed shared migration left a table")
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]fstest.MapFS{
		"bad name":      {"1-init.sql": {Data: []byte("SELECT 1")}},
		"duplicate":     {"0001_a.sql": {Data: []byte("SELECT 1")}, "01_b.sql": {Data: []byte("SELECT 1")}},
		"empty":         {"0001_a.sql": {Data: []byte("  \n")}},
		"zero version":  {"0000_a.sql": {Data: []byte("SELECT 1")}},
		"upper case":    {"0001_Init.sql": {Data: []byte("SELECT 1")}},
		"invalid utf-8": {"0001_a.sql": {Data: []byte("SELECT '\xff'")}},
	}
	for name, fsys := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := condomigrate.Load("tenant", fsys)
			var fe *condomigrate.FileError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want *FileError", err)
			}
		})
	}
	l, err := condomigrate.Load("tenant", fstest.MapFS{"0002_b.sql": {Data: []byte("x")}, "0010_c.sql": {Data: []byte("y")}, "README": {Data: nil, Mode: 0}})
	if err == nil {
		t.Fatalf("README accepted: %+v", l)
	}
}
