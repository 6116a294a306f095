package condomigrate_test

import (
	"errors"
	"testing"
	"testing/fstest"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condotest"
)

// Status sees what a migrate run would do, without the lock and without
// writing: on an empty database, with tenants behind, and once the files
// disagree with what was applied.
func TestStatus(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	empty := condotest.NewDatabaseInfo(t, &condotest.DatabaseOpts{SkipMigrations: true})
	em := newMigrator(t, empty.Pool, lines(nil))
	st, err := em.Status(ctx, condo.NewRegistry(empty.Pool, em, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.SharedPending) == 0 || st.SharedPending[0].Line != "condo" || st.Tenants != 0 {
		t.Fatalf("empty database: %+v, want Condo's line pending and no tenants", st)
	}
	var exists bool
	if err := empty.Pool.QueryRow(ctx, "SELECT to_regclass('public.condo_migrations') IS NOT NULL").Scan(&exists); err != nil || exists {
		t.Fatalf("Status wrote to the database (migrations table exists: %v, %v)", exists, err)
	}

	pool := condotest.NewDatabase(t)
	reg := createTenants(t, pool, newMigrator(t, pool, lines(nil)), 3)
	newer := newMigrator(t, pool, lines(map[string]string{"0002_rating.sql": v2}))
	st, err = newer.Status(ctx, reg)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.SharedPending) != 0 || st.Tenants != 3 || st.TenantsBehind != 3 || st.TenantLatest != 2 {
		t.Fatalf("three tenants at 1, files at 2: %+v", st)
	}
	if _, err := newer.MigrateTenants(ctx, reg, &condomigrate.TenantOpts{Slug: "t0001"}); err != nil {
		t.Fatal(err)
	}
	if st, err = newer.Status(ctx, reg); err != nil || st.TenantsBehind != 2 {
		t.Fatalf("after migrating one: %+v, %v; want 2 behind", st, err)
	}

	shared, err := condomigrate.New(pool, &condomigrate.Config{Tenant: lines(map[string]string{"0002_rating.sql": v2}),
		Shared: fstest.MapFS{"0001_plans.sql": {Data: []byte("CREATE TABLE plan (id int)")}}})
	if err != nil {
		t.Fatal(err)
	}
	if st, err = shared.Status(ctx, reg); err != nil || len(st.SharedPending) != 1 || st.SharedPending[0].Name != "plans" {
		t.Fatalf("a new shared migration: %+v, %v; want shared 0001_plans pending", st, err)
	}

	edited := newMigrator(t, pool, fstest.MapFS{"0001_hotel.sql": {Data: []byte(v1 + "\n-- edited")}})
	if _, err := edited.Status(ctx, reg); !errors.Is(err, condomigrate.ErrChecksumMismatch) {
		t.Fatalf("edited tenant migration: got %v, want ErrChecksumMismatch", err)
	}
}
