package condo_test

import (
	"errors"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condotest"
)

// TestRegistryAsMigrationStore runs a fleet migration through the registry
// (condomigrate.TenantStore): who is behind, and each tenant's version
// recorded in its own migration transaction.
func TestRegistryAsMigrationStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	ctx := t.Context()
	for _, s := range []string{"acme", "globex", "gone"} {
		e.create(t, s)
	}
	if err := e.reg.Delete(ctx, "gone", nil); err != nil {
		t.Fatal(err)
	}
	line := condotest.HotelMigrations()
	line["0002_rating.sql"] = &fstest.MapFile{Data: []byte("ALTER TABLE hotel ADD COLUMN rating numeric(3,1)")}
	m2, err := condomigrate.New(e.pool, &condomigrate.Config{Tenant: line, Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}

	behind, upToDate, err := e.reg.TenantsBehind(ctx, 2, "")
	if err != nil || upToDate != 0 || len(behind) != 2 || behind[0].Slug != "acme" || behind[1].Slug != "globex" || behind[0].Version != 1 {
		t.Fatalf("before: %+v, %d, %v; want acme and globex at 1 (deleted gone left out)", behind, upToDate, err)
	}
	for _, slug := range []string{"nope", "gone"} {
		if _, _, err := e.reg.TenantsBehind(ctx, 2, slug); !errors.Is(err, condo.ErrTenantNotFound) {
			t.Errorf("TenantsBehind(%q): got %v, want ErrTenantNotFound", slug, err)
		}
	}
	// Through the migrator, the registry's sentinel passes unchanged.
	if _, err := m2.MigrateTenants(ctx, e.reg, &condomigrate.TenantOpts{Slug: "nope"}); !errors.Is(err, condo.ErrTenantNotFound) {
		t.Errorf("MigrateTenants of an unknown slug: got %v, want ErrTenantNotFound", err)
	}

	// A version recorded in a transaction that rolls back is not recorded.
	acme, _ := e.reg.Get(ctx, "acme")
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := e.reg.LockTenantVersionTx(ctx, tx, acme.ID, 2)
	if err != nil || !ok || got != (condomigrate.TenantVersion{ID: acme.ID, Slug: "acme", Schema: acme.Schema, Version: 1}) {
		t.Fatalf("lock acme: %+v, %v, %v", got, ok, err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if a, _ := e.reg.Get(ctx, "acme"); a.MigrationVersion != 1 {
		t.Fatalf("after a rollback: version %d, want 1", a.MigrationVersion)
	}

	res, err := m2.MigrateTenants(ctx, e.reg, nil)
	if err != nil || len(res.Migrated) != 2 {
		t.Fatalf("fleet run: %+v, %v", res, err)
	}
	for _, slug := range []string{"acme", "globex"} {
		if ten, err := e.reg.Get(ctx, slug); err != nil || ten.MigrationVersion != 2 {
			t.Errorf("%s after the run: %+v, %v; want version 2", slug, ten, err)
		}
	}
	if behind, upToDate, err := e.reg.TenantsBehind(ctx, 2, ""); err != nil || len(behind) != 0 || upToDate != 2 {
		t.Errorf("after: %+v, %d, %v; want none behind, 2 up to date", behind, upToDate, err)
	}
	if st, err := m2.Status(ctx, e.reg); err != nil || st.Tenants != 2 || st.TenantsBehind != 0 {
		t.Errorf("status: %+v, %v", st, err)
	}

	// Up to date, or deleted: nothing to lock, nothing recorded.
	gone, _ := e.reg.Get(ctx, "gone")
	err = pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		for _, id := range []int64{acme.ID, gone.ID, -1} {
			if got, ok, err := e.reg.LockTenantVersionTx(ctx, tx, id, 2); err != nil || ok {
				t.Errorf("lock %d: %+v, %v, %v; want not ok", id, got, ok, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRegistryStats covers what the reference admin's dashboard reads.
func TestRegistryStats(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	ctx := t.Context()
	ids := map[string]int64{}
	for _, s := range []string{"acme", "globex", "initech", "umbrella"} {
		ids[s] = e.create(t, s).ID
	}
	trial := true
	if _, err := e.reg.Update(ctx, "acme", condo.UpdateParams{OnTrial: &trial}); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.Suspend(ctx, "globex"); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.Delete(ctx, "initech", nil); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.Delete(ctx, "umbrella", &condo.DeleteOpts{Purge: true}); err != nil {
		t.Fatal(err)
	}
	c, err := e.reg.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&condo.TenantCounts{Active: 1, Suspended: 1, Deleted: 1, Trial: 1}, c); diff != "" {
		t.Errorf("Counts (-want +got):\n%s", diff)
	}

	weeks, err := e.reg.CreatedPerWeek(ctx, 3)
	if err != nil || len(weeks) != 3 {
		t.Fatalf("CreatedPerWeek: %+v, %v; want 3 weeks", weeks, err)
	}
	// Summed, not per week: a test that runs across midnight on a Sunday
	// creates its tenants in one week and counts them in the next.
	var total int64
	for _, w := range weeks {
		total += w.Tenants
	}
	if total != 3 || !weeks[0].Week.Before(weeks[2].Week) || weeks[2].Week.Weekday() != time.Monday {
		t.Errorf("CreatedPerWeek: %+v; want 3 tenants (the purged one gone), weeks from Monday, oldest first", weeks)
	}
	if _, err := e.reg.CreatedPerWeek(ctx, 0); err == nil {
		t.Error("CreatedPerWeek(0): got no error")
	}

	slugs, err := e.reg.Slugs(ctx, []int64{ids["acme"], ids["initech"], ids["umbrella"]})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[int64]string{ids["acme"]: "acme", ids["initech"]: "initech"}, slugs); diff != "" {
		t.Errorf("Slugs (-want +got):\n%s", diff)
	}
}
