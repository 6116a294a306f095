package main

import (
	"io/fs"
	"net/http"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condojobs"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condostack"
	"github.com/condo-dev/condo/condotest"
	"github.com/condo-dev/condo/examples/hotels/migrations"
)

// TestServeOnCitus is issue 12's CI job: the reference app's serve, as a
// process, against a Citus coordinator with two workers. Migrate, create
// 100 tenants, and with 16 clients on random tenant hosts: a calm phase,
// tenants moved between the workers one after another (each move's
// duration and the requests served during it are logged), a fleet
// migration (a tenant migration added for the test, DDL Citus forwards to
// the workers), then 10 tenants purged, whose hosts must stop answering
// while the others still do. No request may fail in any phase and every
// 200 must hold only its tenant's hotels.
func TestServeOnCitus(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := condotest.NewCitusDatabase(t, &condotest.DatabaseOpts{SkipMigrations: true})
	env, err := condostack.Open(ctx, &condostack.Config{
		DatabaseURL: db.URL, SharedMigrations: migrations.Shared(), TenantMigrations: migrations.Tenant(),
		Logger: condotest.Logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	if _, err := env.Migrator.MigrateShared(ctx, nil); err != nil {
		t.Fatalf("migrate on Citus: %v", err)
	}
	// serve works background jobs: River's tables, as migrate installs them.
	if _, err := condojobs.Migrate(ctx, env.Direct, condotest.Logger(t)); err != nil {
		t.Fatalf("jobs migration on Citus: %v", err)
	}
	const tenants, purged = 100, 10
	start := time.Now()
	slugs := createLoadTenants(ctx, t, env.Registry, "ct", tenants, 4)
	t.Logf("%d tenants created in %v", tenants, time.Since(start).Round(time.Millisecond))

	addr, _ := startServe(t, db.URL, db.URL)
	load := newHotelLoad(t, addr, slugs)
	check := func(name string, res loadResult) {
		t.Helper()
		t.Logf("%s: %d ok, %d failed", name, res.ok, res.failed)
		if res.failed > 0 || res.ok == 0 {
			t.Fatalf("%s: %d failed (first: %s), %d ok", name, res.failed, res.first, res.ok)
		}
	}
	check("calm", load.phase(ctx, 0, 2*time.Second, 100_000, never))

	// Moves: tenants spread over the first ones, each to the other
	// worker, one after another, under the load.
	var workers []condo.Node
	for _, w := range condotest.Citus(t).Workers() {
		workers = append(workers, condo.Node{Host: w.Host, Port: w.Port})
	}
	const moves = 4
	var moved []*condo.Tenant
	for i := range moves {
		tn, err := env.Registry.Get(ctx, slugs[i*7])
		if err != nil {
			t.Fatal(err)
		}
		moved = append(moved, tn)
	}
	nodes, err := env.Registry.Nodes(ctx, moved)
	if err != nil {
		t.Fatal(err)
	}
	var moving sync.WaitGroup
	var movesDone bool
	var mu sync.Mutex
	moving.Go(func() {
		defer func() { mu.Lock(); movesDone = true; mu.Unlock() }()
		for _, tn := range moved {
			slug := tn.Slug
			to := workers[0]
			if nodes[tn.Schema] == to {
				to = workers[1]
			}
			before, started := load.progress.Load(), time.Now()
			if err := env.Registry.Move(ctx, slug, to); err != nil {
				t.Errorf("move %s: %v", slug, err)
				return
			}
			t.Logf("move %s %s -> %s: %v, %d requests served during it", slug, nodes[tn.Schema], to,
				time.Since(started).Round(time.Millisecond), load.progress.Load()-before)
		}
	})
	check("moves", load.phase(ctx, 0, time.Minute, 1<<40, func() bool { mu.Lock(); defer mu.Unlock(); return movesDone }))
	moving.Wait()
	if t.Failed() {
		t.FailNow()
	}
	after, err := env.Registry.Nodes(ctx, moved)
	if err != nil {
		t.Fatal(err)
	}
	for _, tn := range moved {
		if after[tn.Schema] == nodes[tn.Schema] {
			t.Errorf("%s is still on %s", tn.Slug, after[tn.Schema])
		}
	}

	// A fleet migration under the load, by a migrator that knows one more
	// tenant migration than serve does.
	tenantFS := fstest.MapFS{"0003_ci_citus.sql": {Data: []byte(
		"-- issue 12's CI job: DDL that Citus forwards to the workers.\n" +
			"ALTER TABLE hotel ADD COLUMN ci_note text;\n" +
			"CREATE INDEX hotel_city_idx ON hotel (city);\n")}}
	if err := fs.WalkDir(migrations.Tenant(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.Tenant(), p)
		tenantFS[p] = &fstest.MapFile{Data: b}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	m2, err := condomigrate.New(env.Pool, &condomigrate.Config{Shared: migrations.Shared(), Tenant: tenantFS, Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	var migrating sync.WaitGroup
	var migrated bool
	var res *condomigrate.TenantResult
	var merr error
	migrating.Go(func() {
		started := time.Now()
		res, merr = m2.MigrateTenants(ctx, env.Registry, &condomigrate.TenantOpts{Parallel: 4})
		t.Logf("fleet migration of %d tenants: %v", tenants, time.Since(started).Round(time.Millisecond))
		mu.Lock()
		migrated = true
		mu.Unlock()
	})
	check("fleet migration", load.phase(ctx, 0, time.Minute, 1<<40, func() bool { mu.Lock(); defer mu.Unlock(); return migrated }))
	migrating.Wait()
	if merr != nil {
		t.Fatalf("fleet migration: %v", merr)
	}
	if len(res.Migrated) != tenants || len(res.Failed) > 0 {
		t.Errorf("fleet migration: %+v, want %d migrated", res, tenants)
	}

	// Purge the last tenants: their hosts stop answering, the others do.
	for _, slug := range slugs[tenants-purged:] {
		if err := env.Registry.Delete(ctx, slug, &condo.DeleteOpts{Purge: true}); err != nil {
			t.Fatalf("purge %s: %v", slug, err)
		}
	}
	for _, slug := range slugs[tenants-purged:] {
		condotest.WaitFor(t, 10*time.Second, slug+" to answer 404", func() bool {
			resp, err := load.hc.Get("http://" + slug + ".localhost/hotels/")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusNotFound
		})
	}
	check("after the purge", load.phase(ctx, tenants-purged, 2*time.Second, 100_000, never))
	if n := load.wrong.Load(); n > 0 {
		t.Errorf("%d wrong-tenant answers", n)
	}
}
