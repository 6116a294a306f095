package condo_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condotest"
	"github.com/condo-dev/condo/internal/pgident"
)

// BenchmarkCitusTenantRoles measures the options for tenant roles on Citus
// (BENCHMARKS.md, "Citus: tenant roles and worker connections"): 20 app
// connections, 16 clients, each request one tenant transaction (BEGIN and
// the tenant's SET LOCALs, a primary-key read of a tenant table, COMMIT) on
// a random tenant, for CONDO_CITUS_TENANTS tenants (default 44,200):
//
//   - set-role: SET LOCAL ROLE to the tenant's role, which must then LOGIN
//     (Citus connects to the worker as the current role), each
//     coordinator backend caching one worker connection per role;
//   - set-role/cached0: the same with citus.max_cached_conns_per_worker = 0
//     (a new worker connection per transaction);
//   - set-role/shared-pool-100: citus.max_shared_pool_size = 100;
//   - set-role/tenant-pools-K: the 20 connections split into K
//     tenant-affine pools (condo.TenantPools), so each coordinator backend
//     meets only 1/K of the tenant roles;
//   - search-path: no SET ROLE; the login role reads every tenant schema.
//
// Each request has a 10 s deadline; a request that fails or times out is
// counted, not retried. Each mode runs twice on the same pools, cold then
// warm, 16 × 200 requests each (16 × 10 with max_shared_pool_size, where
// requests wait).
//
//	go test -run '^$' -bench CitusTenantRoles -benchtime 1x .
func BenchmarkCitusTenantRoles(b *testing.B) {
	counts := []int{44, 200}
	if s := os.Getenv("CONDO_CITUS_TENANTS"); s != "" {
		counts = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				b.Fatal(err)
			}
			counts = append(counts, n)
		}
	}
	perClient := 200
	for _, n := range counts {
		e := newCitusEnv(b, nil)
		ctx := b.Context()
		tenants := createTenantsParallel(b, e, n)
		for _, t := range tenants {
			if _, err := e.pool.Exec(ctx, "ALTER ROLE "+pgident.Quote(t.Role)+" LOGIN"); err != nil {
				b.Fatal(err)
			}
		}
		cc := condotest.Citus(b)
		for _, mode := range []string{"search-path", "set-role", "set-role/cached0", "set-role/shared-pool-100", "set-role/tenant-pools-20", "set-role/tenant-pools-10"} {
			b.Run(fmt.Sprintf("tenants=%d/%s", n, mode), func(b *testing.B) {
				shared := "0"
				if mode == "set-role/shared-pool-100" {
					shared = "100"
				}
				setCoordinator(b, cc.AdminURL("postgres"), "citus.max_shared_pool_size", shared)
				cfg, err := pgxpool.ParseConfig(e.db.URL)
				if err != nil {
					b.Fatal(err)
				}
				cfg.MaxConns, cfg.MinConns = 20, 20
				if mode == "set-role/cached0" {
					cfg.ConnConfig.RuntimeParams["citus.max_cached_conns_per_worker"] = "0"
				}
				var poolFor func(*condo.Tenant) *pgxpool.Pool
				if k, ok := strings.CutPrefix(mode, "set-role/tenant-pools-"); ok {
					n, _ := strconv.Atoi(k)
					tp, err := condo.NewTenantPools(ctx, cfg, n)
					if err != nil {
						b.Fatal(err)
					}
					defer tp.Close()
					poolFor = tp.For
				} else {
					pool, err := pgxpool.NewWithConfig(ctx, cfg)
					if err != nil {
						b.Fatal(err)
					}
					defer pool.Close()
					poolFor = func(*condo.Tenant) *pgxpool.Pool { return pool }
				}
				// Requests hang in this mode: fewer of them, still 16 clients.
				requests := perClient
				if shared != "0" {
					requests = 10
				}
				// Two passes on the same pools: the first pays for every
				// worker connection a mode opens (cold), the second shows
				// the steady state (warm).
				var cold, r citusRun
				for b.Loop() {
					sample := func() int { return workerBackends(b, cc, e.db.Name) }
					cold = runCitusLoad(ctx, poolFor, tenants, mode != "search-path", 16, requests, sample)
					r = runCitusLoad(ctx, poolFor, tenants, mode != "search-path", 16, requests, sample)
				}
				b.ReportMetric(cold.rps, "cold-req/s")
				b.ReportMetric(float64(cold.p99.Microseconds())/1000, "cold-p99-ms")
				b.ReportMetric(float64(cold.failed), "cold-failed")
				b.ReportMetric(r.rps, "req/s")
				b.ReportMetric(float64(r.p50.Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(r.p99.Microseconds())/1000, "p99-ms")
				b.ReportMetric(float64(r.failed), "failed")
				b.ReportMetric(float64(max(r.maxWorkerConns, cold.maxWorkerConns)), "max-worker-conns")
				if cold.firstErr != nil {
					r.firstErr = cold.firstErr
				}
				if r.firstErr != nil {
					b.Logf("first error: %v", r.firstErr)
				}
			})
		}
		setCoordinator(b, cc.AdminURL("postgres"), "citus.max_shared_pool_size", "0")
	}
}

func createTenantsParallel(b *testing.B, e *env, n int) []*condo.Tenant {
	b.Helper()
	out := make([]*condo.Tenant, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < n; i += 4 {
				t, err := e.reg.Create(b.Context(), condo.CreateParams{Slug: fmt.Sprintf("t%d", i), Name: "T"})
				if err != nil {
					errs <- err
					return
				}
				out[i] = t
				if _, err := e.pool.Exec(b.Context(), "INSERT INTO "+pgident.QuoteQualified(t.Schema, "hotel")+" (name, city, stars) VALUES ('h', 'c', 3)"); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatalf("create tenants: %v", err)
	}
	return out
}

// setCoordinator sets a reloadable setting on the coordinator (0 resets it).
func setCoordinator(b *testing.B, adminURL, name, value string) {
	b.Helper()
	conn, err := pgx.Connect(b.Context(), adminURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.Background())
	q := "ALTER SYSTEM SET " + name + " = " + value
	if value == "0" {
		q = "ALTER SYSTEM RESET " + name
	}
	if _, err := conn.Exec(b.Context(), q); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(b.Context(), "SELECT pg_reload_conf()"); err != nil {
		b.Fatal(err)
	}
}

// workerBackends counts the client backends of database db on all workers.
func workerBackends(b *testing.B, cc *condotest.CitusCluster, db string) int {
	total := 0
	for i := range cc.Workers() {
		conn, err := pgx.Connect(b.Context(), cc.WorkerURL(i, "postgres", "postgres"))
		if err != nil {
			return -1
		}
		var n int
		_ = conn.QueryRow(b.Context(), "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'", db).Scan(&n)
		conn.Close(context.Background())
		total += n
	}
	return total
}

type citusRun struct {
	rps            float64
	p50, p99       time.Duration
	failed         int
	firstErr       error
	maxWorkerConns int
}

func runCitusLoad(ctx context.Context, poolFor func(*condo.Tenant) *pgxpool.Pool, tenants []*condo.Tenant, setRole bool, clients, perClient int, sample func() int) citusRun {
	var (
		mu   sync.Mutex
		lat  []time.Duration
		r    citusRun
		wg   sync.WaitGroup
		stop = make(chan struct{})
		done = make(chan struct{})
	)
	go func() { // sample the workers' connections while the load runs
		defer close(done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if n := sample(); n > r.maxWorkerConns {
					mu.Lock()
					r.maxWorkerConns = n
					mu.Unlock()
				}
			}
		}
	}()
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for range perClient {
				t := tenants[rand.IntN(len(tenants))]
				begin := "BEGIN; SET LOCAL search_path TO " + pgident.Quote(t.Schema)
				if setRole {
					begin += "; SET LOCAL ROLE " + pgident.Quote(t.Role)
				}
				rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				t0 := time.Now()
				err := pgx.BeginTxFunc(rctx, poolFor(t), pgx.TxOptions{BeginQuery: begin}, func(tx pgx.Tx) error {
					var name string
					return tx.QueryRow(rctx, "SELECT name FROM hotel WHERE id = $1", 1).Scan(&name)
				})
				d := time.Since(t0)
				cancel()
				mu.Lock()
				if err != nil {
					r.failed++
					if r.firstErr == nil {
						r.firstErr = err
					}
				} else {
					lat = append(lat, d)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stop)
	<-done
	slices.Sort(lat)
	if len(lat) > 0 {
		r.p50 = lat[len(lat)/2]
		r.p99 = lat[len(lat)*99/100]
	}
	r.rps = float64(len(lat)) / elapsed.Seconds()
	return r
}
