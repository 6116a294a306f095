package condo_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condotest"
)

// TestTenantSwitchingUnderChaos is the wall test of the core issue: 64
// goroutines share a pool of 4 connections and switch between 50 tenants,
// while handlers panic, contexts are cancelled mid-query and connections
// are killed with pg_terminate_backend. No goroutine may ever see a row of
// another tenant. It runs for CONDO_STRESS_SECONDS (default 10).
func TestTenantSwitchingUnderChaos(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, &condotest.DatabaseOpts{MaxConns: 4})
	ctx := t.Context()
	const nTenants = 50
	tenants := make([]*condo.Tenant, nTenants)
	for i := range tenants {
		slug := fmt.Sprintf("t%02d", i)
		tenants[i] = e.create(t, slug)
		err := e.reg.InTx(ctx, tenants[i], func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) SELECT $1 || '-' || g, 'x', 3 FROM generate_series(1, 3) g", slug)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	dur := 10 * time.Second
	if s := os.Getenv("CONDO_STRESS_SECONDS"); s != "" {
		d, err := time.ParseDuration(s + "s")
		if err != nil {
			t.Fatalf("CONDO_STRESS_SECONDS: %v", err)
		}
		dur = d
	}
	deadline := time.Now().Add(dur)
	var (
		checked, panics, cancels, killed, wrong atomic.Int64
		wg                                      sync.WaitGroup
	)
	// The killer: terminates a random backend of the pool's role now and then
	// (only that role's: a superuser's backend in the same database, such as
	// the test cluster's own, can't be terminated by it).
	wg.Go(func() {
		admin, err := pgx.Connect(ctx, e.db.URL)
		if err != nil {
			t.Errorf("killer connect: %v", err)
			return
		}
		defer admin.Close(context.Background())
		for time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			var n int64
			err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM (
				SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND usename = session_user AND pid <> pg_backend_pid()
				ORDER BY random() LIMIT 1) s`).Scan(&n)
			if err != nil {
				t.Errorf("terminate: %v", err)
				return
			}
			killed.Add(n)
		}
	})
	for g := range 64 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 42))
			for time.Now().Before(deadline) {
				ten := tenants[rng.IntN(nTenants)]
				tctx := condo.WithTenant(ctx, ten)
				mode := rng.IntN(10)
				var cancel context.CancelFunc = func() {}
				if mode == 0 {
					tctx, cancel = context.WithTimeout(tctx, time.Duration(rng.IntN(3000))*time.Microsecond)
					cancels.Add(1)
				}
				func() {
					defer func() {
						if r := recover(); r != nil {
							panics.Add(1)
						}
					}()
					_ = e.reg.InTenantTx(tctx, func(ctx context.Context, tx pgx.Tx) error {
						rows, err := tx.Query(ctx, "SELECT name FROM hotel")
						if err != nil {
							return err
						}
						names, err := pgx.CollectRows(rows, pgx.RowTo[string])
						if err != nil {
							return err
						}
						for _, n := range names {
							if len(n) < 3 || n[:3] != ten.Slug {
								wrong.Add(1)
								t.Errorf("tenant %s saw row %q", ten.Slug, n)
							}
						}
						checked.Add(1)
						if mode == 1 {
							panic("handler panic")
						}
						if mode == 2 {
							// A session-level change by buggy tenant code must not
							// reach the next tenant on this connection.
							if _, err := tx.Exec(ctx, "SET search_path TO public"); err != nil {
								return err
							}
						}
						return nil
					})
				}()
				cancel()
			}
		})
	}
	wg.Wait()
	t.Logf("checked %d transactions; %d panics, %d cancellations, %d backends killed",
		checked.Load(), panics.Load(), cancels.Load(), killed.Load())
	if wrong.Load() > 0 {
		t.Fatalf("%d wrong rows seen", wrong.Load())
	}
	if checked.Load() < 1000 || panics.Load() == 0 || killed.Load() == 0 {
		t.Fatalf("the chaos did not happen: %d checked, %d panics, %d killed", checked.Load(), panics.Load(), killed.Load())
	}
}
