package condo_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condotest"
)

// pendingIDs returns the ids of the pending tenants, by id.
func pendingIDs(t testing.TB, pool *pgxpool.Pool) []int64 {
	t.Helper()
	rows, _ := pool.Query(t.Context(), "SELECT id FROM public.condo_tenants WHERE status = 'pending' ORDER BY id")
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatalf("pending ids: %v", err)
	}
	return ids
}

func fill(t testing.TB, reg *condo.Registry, size int) condo.FillResult {
	t.Helper()
	res, err := condo.NewPendingPool(reg, &condo.PendingPoolConfig{Size: size, Logger: condotest.Logger(t)}).Fill(t.Context())
	if err != nil {
		t.Fatalf("fill %d: %v (%+v)", size, err, res)
	}
	return res
}

func hotelCount(t testing.TB, reg *condo.Registry, ten *condo.Tenant) int {
	t.Helper()
	var n int
	err := reg.InTenantTx(condo.WithTenant(t.Context(), ten), func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) VALUES ($1, 'Lisbon', 3)", ten.Slug+" hotel"); err != nil {
			return err
		}
		return tx.QueryRow(ctx, "SELECT count(*) FROM hotel").Scan(&n)
	})
	if err != nil {
		t.Fatalf("hotels of %s: %v", ten.Slug, err)
	}
	return n
}

// TestPendingClaim: Create claims a pending tenant (same tenant as the
// full path would make: domains, hooks with search_path the tenant's
// schema, notification, working tables), and pending tenants stay hidden
// from lookups, listings, counts and the resolver.
func TestPendingClaim(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, nil)
	ctx := t.Context()
	m, err := condomigrate.New(db.Pool, &condomigrate.Config{Tenant: condotest.HotelMigrations(), Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	var hooked []string
	reg := condo.NewRegistry(db.Pool, m, &condo.RegistryConfig{Logger: condotest.Logger(t),
		OnTenantCreated: func(ctx context.Context, tx pgx.Tx, ten *condo.Tenant) error {
			var schemas string
			if err := tx.QueryRow(ctx, "SELECT current_schemas(false)::text").Scan(&schemas); err != nil {
				return err
			}
			hooked = append(hooked, ten.Slug+" "+schemas)
			_, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) VALUES ('seeded', 'Porto', 4)")
			return err
		}})
	e := &env{pool: db.Pool, migrator: m, reg: reg, db: db}
	res := startResolver(t, e, &condo.ResolverConfig{BaseDomains: []string{"example.test"}})

	if got := fill(t, reg, 3); got != (condo.FillResult{Made: 3}) {
		t.Fatalf("fill: got %+v, want 3 made", got)
	}
	if got := fill(t, reg, 3); got != (condo.FillResult{}) {
		t.Fatalf("fill of a full pool: got %+v, want nothing", got)
	}
	pending := pendingIDs(t, db.Pool)
	if len(pending) != 3 || len(hooked) != 0 {
		t.Fatalf("pending %v, hooks run %v; want 3 pending, no hook", pending, hooked)
	}
	stats, err := reg.PendingStats(ctx)
	if err != nil || *stats != (condo.PendingStats{Total: 3, Ready: 3, Version: 1}) {
		t.Fatalf("PendingStats = %+v, %v", stats, err)
	}

	// Hidden: List, Counts, Get, the resolver; listed when asked.
	if l, err := reg.List(ctx, condo.ListParams{AllStatuses: true}); err != nil || len(l.Tenants) != 0 {
		t.Fatalf("List = %v, %v; want none", l, err)
	}
	l, err := reg.List(ctx, condo.ListParams{Status: condo.StatusPending})
	if err != nil || len(l.Tenants) != 3 || !strings.HasPrefix(l.Tenants[0].Slug, "~pending-") {
		t.Fatalf("List pending = %+v, %v; want 3 ~pending- tenants", l, err)
	}
	pslug := l.Tenants[0].Slug
	if _, err := reg.Get(ctx, pslug); !errors.Is(err, condo.ErrTenantNotFound) {
		t.Fatalf("Get(%s): got %v, want ErrTenantNotFound", pslug, err)
	}
	if _, err := reg.GetByID(ctx, pending[0]); !errors.Is(err, condo.ErrTenantNotFound) {
		t.Fatalf("GetByID pending: got %v, want ErrTenantNotFound", err)
	}
	if c, err := reg.Counts(ctx); err != nil || *c != (condo.TenantCounts{}) {
		t.Fatalf("Counts = %+v, %v; want zeros", c, err)
	}
	if s, err := reg.Slugs(ctx, pending); err != nil || len(s) != 0 {
		t.Fatalf("Slugs = %v, %v; want none", s, err)
	}
	if err := condo.ValidateSlug(pslug, nil); err == nil {
		t.Fatalf("ValidateSlug(%s) passed", pslug)
	}
	if _, err := condo.NormalizeHost(pslug + ".example.test"); err == nil {
		t.Fatalf("NormalizeHost(%s.example.test) passed", pslug)
	}

	// The claim.
	paid := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	var ownHook string
	acme, err := reg.Create(ctx, condo.CreateParams{Slug: "acme", Name: "Acme", Domains: []string{"Acme.Example.ORG", "www.acme.example.org"},
		PaidUntil: &paid, OnTrial: true, OnCreated: func(ctx context.Context, tx pgx.Tx, ten *condo.Tenant) error {
			return tx.QueryRow(ctx, "SELECT current_schemas(false)::text").Scan(&ownHook)
		}})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if acme.ID != pending[0] {
		t.Fatalf("claimed id %d, want the first pending one %d", acme.ID, pending[0])
	}
	want := []string{"acme {" + acme.Schema + "}"}
	if diff := cmp.Diff(want, hooked); diff != "" || ownHook != "{"+acme.Schema+"}" {
		t.Fatalf("hooks (-want +got):\n%s\nOnCreated saw %s", diff, ownHook)
	}
	got, err := reg.Get(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(acme, got); diff != "" {
		t.Fatalf("Get after the claim (-Create +Get):\n%s", diff)
	}
	if got.Status != condo.StatusActive || got.Name != "Acme" || !got.OnTrial || got.PaidUntil == nil || !got.PaidUntil.Equal(paid) ||
		len(got.Domains) != 2 || got.Domains[0].Host != "acme.example.org" || !got.Domains[0].Primary || got.MigrationVersion != 1 {
		t.Fatalf("claimed tenant = %+v", got)
	}
	if n := hotelCount(t, reg, acme); n != 2 {
		t.Fatalf("acme has %d hotels, want 2 (seeded + new)", n)
	}
	if c, err := reg.Counts(ctx); err != nil || *c != (condo.TenantCounts{Active: 1, Trial: 1}) {
		t.Fatalf("Counts = %+v, %v", c, err)
	}
	// The resolver hears the claim: the slug and the domain route.
	condotest.WaitFor(t, 10*time.Second, "acme routes", func() error {
		for _, h := range []string{"acme.example.test", "acme.example.org"} {
			rt, err := res.Resolve(ctx, h)
			if err != nil {
				return err
			}
			if rt.Tenant == nil || rt.Tenant.ID != acme.ID {
				return fmt.Errorf("%s routes to %+v", h, rt.Tenant)
			}
		}
		return nil
	})
	if got := pendingIDs(t, db.Pool); !cmp.Equal(got, pending[1:]) {
		t.Fatalf("pending after the claim: %v, want %v", got, pending[1:])
	}

	// Shrinking purges the surplus (schema and role too); purging a
	// pending tenant by hand works.
	if got := fill(t, reg, 1); got != (condo.FillResult{Purged: 1}) {
		t.Fatalf("shrink: got %+v, want 1 purged", got)
	}
	if !schemaExists(t, e, fmt.Sprintf("tenant_%d", pending[1])) || schemaExists(t, e, fmt.Sprintf("tenant_%d", pending[2])) {
		t.Fatalf("shrink kept the wrong schemas")
	}
	if err := reg.Delete(ctx, fmt.Sprintf("~pending-%d", pending[1]), &condo.DeleteOpts{Purge: true}); err != nil {
		t.Fatalf("purge pending: %v", err)
	}
	if got := pendingIDs(t, db.Pool); len(got) != 0 || schemaExists(t, e, fmt.Sprintf("tenant_%d", pending[1])) {
		t.Fatalf("pending after purge: %v", got)
	}
	// An empty pool: the full path, unchanged.
	globex := e.create(t, "globex")
	if globex.ID <= pending[2] || hotelCount(t, reg, globex) != 2 {
		t.Fatalf("globex = %+v", globex)
	}
}

// TestPendingClaimFails: a failed claim (slug or domain taken, a hook's
// error) returns Create's usual error and leaves the tenant pending.
func TestPendingClaimFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	ctx := t.Context()
	e.create(t, "acme", "acme.example.org")
	fill(t, e.reg, 1)
	pending := pendingIDs(t, e.pool)
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		p    condo.CreateParams
		is   func(error) bool
	}{
		{"slug taken", condo.CreateParams{Slug: "acme", Name: "Acme 2"}, is(condo.ErrTenantExists)},
		{"domain taken", condo.CreateParams{Slug: "acme2", Name: "Acme 2", Domains: []string{"acme.example.org"}}, is(condo.ErrDomainTaken)},
		{"hook fails", condo.CreateParams{Slug: "acme3", Name: "Acme 3", OnCreated: func(ctx context.Context, tx pgx.Tx, ten *condo.Tenant) error {
			if _, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) VALUES ('x', 'y', 1)"); err != nil {
				return err
			}
			return boom
		}}, is(boom)},
		{"bad slug", condo.CreateParams{Slug: "~pending-1", Name: "x"}, isNameError},
		{"bad host", condo.CreateParams{Slug: "acme4", Name: "x", Domains: []string{"a b"}}, isNameError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.reg.Create(ctx, tc.p)
			if !tc.is(err) {
				t.Fatalf("got %v", err)
			}
			if got := pendingIDs(t, e.pool); !cmp.Equal(got, pending) {
				t.Fatalf("pending: got %v, want %v", got, pending)
			}
			if _, err := e.reg.Get(ctx, tc.p.Slug); tc.p.Slug != "acme" && !errors.Is(err, condo.ErrTenantNotFound) {
				t.Fatalf("Get(%s) after a failed create: %v", tc.p.Slug, err)
			}
		})
	}
	// The pending tenant kept no trace of the failed claims.
	ten := e.create(t, "acme5")
	if ten.ID != pending[0] || hotelCount(t, e.reg, ten) != 1 || len(ten.Domains) != 0 {
		t.Fatalf("claim after failures: %+v", ten)
	}
}

// TestPendingConcurrentClaims: claims at once get different tenants;
// those beyond the pool take the full path.
func TestPendingConcurrentClaims(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, &condotest.DatabaseOpts{MaxConns: 16})
	fill(t, e.reg, 6)
	pending := pendingIDs(t, e.pool)
	var mu sync.Mutex
	var ids []int64
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for i := range 12 {
		wg.Go(func() {
			ten, err := e.reg.Create(t.Context(), condo.CreateParams{Slug: fmt.Sprintf("c%02d", i), Name: "C"})
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			ids = append(ids, ten.ID)
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var claimed int
	for i, id := range ids {
		if i > 0 && ids[i-1] == id {
			t.Fatalf("tenant %d claimed twice: %v", id, ids)
		}
		for _, p := range pending {
			if p == id {
				claimed++
			}
		}
	}
	if claimed != 6 || len(pendingIDs(t, e.pool)) != 0 {
		t.Fatalf("claimed %d of %v (ids %v), want all 6", claimed, pending, ids)
	}
	if c, err := e.reg.Counts(t.Context()); err != nil || c.Active != 12 {
		t.Fatalf("Counts = %+v, %v", c, err)
	}
}

// TestPendingRefillRace: two instances' pools refill while claims run;
// no tenant is claimed twice, and the pool ends exactly full (never
// overfilled).
func TestPendingRefillRace(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, &condotest.DatabaseOpts{MaxConns: 16})
	// A second instance: its own registry over the same database.
	reg2 := condo.NewRegistry(e.pool, e.migrator, &condo.RegistryConfig{Logger: condotest.Logger(t)})
	ctx, cancel := context.WithCancel(t.Context())
	var runs sync.WaitGroup
	for _, reg := range []*condo.Registry{e.reg, reg2} {
		p := condo.NewPendingPool(reg, &condo.PendingPoolConfig{Size: 4, Interval: 50 * time.Millisecond, Logger: condotest.Logger(t)})
		runs.Go(func() {
			if err := p.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	defer func() { cancel(); runs.Wait() }()
	var mu sync.Mutex
	seen := map[int64]string{}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			reg := []*condo.Registry{e.reg, reg2}[g%2]
			for i := range 5 {
				slug := fmt.Sprintf("g%d-%d", g, i)
				ten, err := reg.Create(ctx, condo.CreateParams{Slug: slug, Name: "G"})
				if err != nil {
					t.Errorf("create %s: %v", slug, err)
					return
				}
				mu.Lock()
				if other, ok := seen[ten.ID]; ok {
					t.Errorf("tenant %d claimed by %s and %s", ten.ID, other, slug)
				}
				seen[ten.ID] = slug
				mu.Unlock()
				if hotelCount(t, reg, ten) != 1 {
					t.Errorf("%s: hotels", slug)
				}
			}
		})
	}
	wg.Wait()
	condotest.WaitFor(t, time.Minute, "the pool refilled", func() bool {
		s, err := e.reg.PendingStats(t.Context())
		return err == nil && s.Ready == 4
	})
	cancel()
	runs.Wait()
	if s, err := e.reg.PendingStats(t.Context()); err != nil || s.Total != 4 {
		t.Fatalf("after the runs stopped: %+v, %v; want exactly 4", s, err)
	}
	if c, err := e.reg.Counts(t.Context()); err != nil || c.Active != 20 {
		t.Fatalf("Counts = %+v, %v; want 20 active", c, err)
	}
}

// TestPendingBehind: after a deploy (a new tenant migration), a pending
// tenant behind it is not claimed; the fleet migration brings it up to
// date, and then it is.
func TestPendingBehind(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	ctx := t.Context()
	fill(t, e.reg, 1)
	pending := pendingIDs(t, e.pool)
	line := condotest.HotelMigrations()
	line["0002_rating.sql"] = &fstest.MapFile{Data: []byte("ALTER TABLE hotel ADD COLUMN rating numeric(3,1)")}
	m2, err := condomigrate.New(e.pool, &condomigrate.Config{Tenant: line, Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	reg2 := condo.NewRegistry(e.pool, m2, &condo.RegistryConfig{Logger: condotest.Logger(t)})
	if s, err := reg2.PendingStats(ctx); err != nil || *s != (condo.PendingStats{Total: 1, Ready: 0, Version: 2}) {
		t.Fatalf("PendingStats = %+v, %v", s, err)
	}
	a, err := reg2.Create(ctx, condo.CreateParams{Slug: "a", Name: "A"})
	if err != nil || a.ID == pending[0] || a.MigrationVersion != 2 {
		t.Fatalf("Create behind the deploy: %+v, %v; want a new tenant at 2", a, err)
	}
	// doctor's "tenant migrations" line says how many of the behind
	// tenants are pending ones.
	if st, err := m2.Status(ctx, reg2); err != nil || st.Tenants != 2 || st.TenantsBehind != 1 || st.PendingBehind != 1 {
		t.Fatalf("Status = %+v, %v; want 2 tenants, 1 behind, the pending one", st, err)
	}
	res, err := m2.MigrateTenants(ctx, reg2, nil)
	if err != nil || len(res.Migrated) != 1 {
		t.Fatalf("MigrateTenants: %+v, %v; want the pending tenant migrated", res, err)
	}
	b, err := reg2.Create(ctx, condo.CreateParams{Slug: "b", Name: "B"})
	if err != nil || b.ID != pending[0] || b.MigrationVersion != 2 {
		t.Fatalf("Create after the fleet migration: %+v, %v; want the pending tenant %d", b, err, pending[0])
	}
	err = reg2.InTenantTx(condo.WithTenant(ctx, b), func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars, rating) VALUES ('b', 'c', 3, 4.5)")
		return err
	})
	if err != nil {
		t.Fatalf("the claimed tenant's new column: %v", err)
	}
	// The old code's registry (a rolling deploy) claims nothing newer.
	fill(t, reg2, 1)
	c, err := e.reg.Create(ctx, condo.CreateParams{Slug: "c", Name: "C"})
	if got := pendingIDs(t, e.pool); len(got) != 1 {
		t.Fatalf("old code claimed a newer pending tenant: %v (%+v, %v)", got, c, err)
	}
}

// TestPendingPgBouncer: refill and claims through PgBouncer in
// transaction mode (the advisory lock is transaction-level; nothing needs
// a session), two pools racing to fill.
func TestPendingPgBouncer(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, nil)
	bouncer := condotest.NewPgBouncer(t, db, &condotest.PgBouncerOpts{PoolSize: 2})
	pool := bouncer.Pool(t, 8)
	m, err := condomigrate.New(db.Pool, &condomigrate.Config{Tenant: condotest.HotelMigrations(), Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	reg := condo.NewRegistry(pool, m, &condo.RegistryConfig{Logger: condotest.Logger(t)})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { fill(t, reg, 3) })
	}
	wg.Wait()
	pending := pendingIDs(t, db.Pool)
	if len(pending) != 3 {
		t.Fatalf("two fills of 3 through PgBouncer: %v pending, want 3", pending)
	}
	for i, slug := range []string{"acme", "globex"} {
		ten, err := reg.Create(t.Context(), condo.CreateParams{Slug: slug, Name: slug, Domains: []string{slug + ".example.org"}})
		if err != nil || ten.ID != pending[i] {
			t.Fatalf("claim %s: %+v, %v; want tenant %d", slug, ten, err, pending[i])
		}
		if n := hotelCount(t, reg, ten); n != 1 {
			t.Fatalf("%s: %d hotels", slug, n)
		}
	}
}

// TestPendingCitus: pending tenants on a Citus cluster: made (their
// schemas distributed) and claimed.
func TestPendingCitus(t *testing.T) {
	t.Parallel()
	e := newCitusEnv(t, nil)
	fill(t, e.reg, 2)
	pending := pendingIDs(t, e.pool)
	acme, err := e.reg.Create(t.Context(), condo.CreateParams{Slug: "acme", Name: "Acme"})
	if err != nil || acme.ID != pending[0] {
		t.Fatalf("claim: %+v, %v; want tenant %d", acme, err, pending[0])
	}
	if n := hotelCount(t, e.reg, acme); n != 1 {
		t.Fatalf("acme: %d hotels", n)
	}
	rows, _ := e.pool.Query(t.Context(), "SELECT schema_name::text FROM public.citus_schemas ORDER BY 1")
	schemas, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(schemas) != 2 {
		t.Fatalf("citus_schemas = %v, %v; want both tenants' schemas", schemas, err)
	}
	if got := fill(t, e.reg, 0); got != (condo.FillResult{Purged: 1}) {
		t.Fatalf("shrink to 0: %+v", got)
	}
}
