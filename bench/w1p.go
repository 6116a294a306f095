package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/internal/pgcluster"
)

// w1pResult is one side of one W1p run: per-tenant creation latencies
// (sorted), their total, and for the warm pool the refill that made it.
type w1pResult struct {
	lat          []time.Duration
	total        time.Duration
	refill       time.Duration // 0: no pool
	refillTenant int
}

func (r w1pResult) pct(p float64) float64 {
	return float64(r.lat[min(len(r.lat)-1, int(float64(len(r.lat))*p))].Microseconds()) / 1000
}

// runW1p is W1p of WORKLOADS.md: W1 (o.w1p tenants t0001… with domain
// tNNNN.example.test, one after another, through Registry.Create, the
// reference app's hotel and room tables) without a pool and with a warm
// pool of as many pending tenants, each run on fresh databases of its own
// cluster with fsync on (as W1 is measured), the two sides alternating
// which goes first from run to run. Reported: creation p50/p95/p99 both
// ways and the pool's refill rate (PendingPool.Fill from empty, tenants
// per second), medians of the runs.
func runW1p(ctx context.Context, o options) error {
	var bin string
	if len(o.pgBins) > 0 {
		bin = o.pgBins[0]
	}
	dir := filepath.Join(o.out, "w1p")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// Durable, as W1 is measured (CONDO_TEST_DURABLE=1): a creation's
	// commit waits for its WAL flush, as in production.
	cl, err := pgcluster.Start(ctx, pgcluster.Config{Dir: filepath.Join(dir, "pg"), Settings: o.pgSettings, BinDir: bin})
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer cl.Stop()
	admin := cl.URL(pgcluster.Superuser, "postgres")
	logf("machine: %d CPUs, %s; %s; %s; load average %s", runtime.NumCPU(), cpuModel(), runtime.Version(), pgVersion(ctx, admin), loadAvg())
	var cold, warm []w1pResult
	for run := range o.runs {
		sides := []bool{false, true}
		if run%2 == 1 {
			slices.Reverse(sides)
		}
		for _, pool := range sides {
			r, err := w1pSide(ctx, cl, admin, fmt.Sprintf("w1p_%d_%v", run, pool), o.w1p, pool)
			if err != nil {
				return err
			}
			if pool {
				warm = append(warm, r)
				logf("run %d, warm pool: refill %d in %.1f s (%.0f/s); claims p50 %.2f ms, p95 %.2f ms, p99 %.2f ms; load average %s",
					run+1, r.refillTenant, r.refill.Seconds(), float64(r.refillTenant)/r.refill.Seconds(), r.pct(0.5), r.pct(0.95), r.pct(0.99), loadAvg())
			} else {
				cold = append(cold, r)
				logf("run %d, no pool: total %.1f s; p50 %.2f ms, p95 %.2f ms, p99 %.2f ms; load average %s",
					run+1, r.total.Seconds(), r.pct(0.5), r.pct(0.95), r.pct(0.99), loadAvg())
			}
		}
	}
	med, p := w1Median, w1Pct
	fmt.Println()
	fmt.Printf("W1  %d tenants, no pool: total %.1f s, p50 %.2f ms, p95 %.2f ms, p99 %.2f ms (median of %d)\n", o.w1p,
		med(cold, func(r w1pResult) float64 { return r.total.Seconds() }), med(cold, p(0.5)), med(cold, p(0.95)), med(cold, p(0.99)), len(cold))
	fmt.Printf("W1p %d tenants, warm pool: total %.2f s, claim p50 %.2f ms, p95 %.2f ms, p99 %.2f ms; refill %.0f tenants/s (median of %d); p50 ratio warm/cold %.3f\n", o.w1p,
		med(warm, func(r w1pResult) float64 { return r.total.Seconds() }), med(warm, p(0.5)), med(warm, p(0.95)), med(warm, p(0.99)),
		med(warm, func(r w1pResult) float64 { return float64(r.refillTenant) / r.refill.Seconds() }), len(warm),
		med(warm, p(0.5))/med(cold, p(0.5)))
	return nil
}

// w1pSide creates database name (as the tests make theirs: owned by a
// login role that is no superuser), fills a pool of n pending tenants when
// pool is set, creates the n tenants and drops the database.
func w1pSide(ctx context.Context, cl *pgcluster.Cluster, admin, name string, n int, pool bool) (w1pResult, error) {
	var res w1pResult
	_ = pgcluster.DropDatabase(ctx, admin, name)
	if err := pgcluster.CreateDatabase(ctx, admin, pgcluster.DatabaseParams{Name: name}); err != nil {
		return res, err
	}
	defer func() { _ = pgcluster.DropDatabase(context.WithoutCancel(ctx), admin, name) }()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, reg, err := w1Registry(ctx, cl.URL(name, name), &condo.RegistryConfig{Logger: quiet})
	if err != nil {
		return res, err
	}
	defer db.Close()
	if pool {
		start := time.Now()
		fr, err := condo.NewPendingPool(reg, &condo.PendingPoolConfig{Size: n, Logger: quiet}).Fill(ctx)
		if err != nil {
			return res, fmt.Errorf("fill: %w", err)
		}
		res.refill, res.refillTenant = time.Since(start), fr.Made
	}
	start := time.Now()
	for i := 1; i <= n; i++ {
		slug := fmt.Sprintf("t%04d", i)
		t0 := time.Now()
		if _, err := reg.Create(ctx, condo.CreateParams{Slug: slug, Name: "Tenant " + slug, Domains: []string{slug + ".example.test"}}); err != nil {
			return res, err
		}
		res.lat = append(res.lat, time.Since(t0))
	}
	res.total = time.Since(start)
	slices.Sort(res.lat)
	if pool {
		// Every creation was a claim.
		s, err := reg.PendingStats(ctx)
		if err != nil {
			return res, err
		}
		if s.Total != 0 {
			return res, fmt.Errorf("%d pending tenants left: not every creation claimed one", s.Total)
		}
	}
	return res, nil
}

// loadAvg is the 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// w1Registry opens the W1 database at url (4 connections), applies the
// shared migrations with the reference app's tenant line, and returns the
// pool (the caller closes it) and a registry over it configured by rc.
func w1Registry(ctx context.Context, url string, rc *condo.RegistryConfig) (*pgxpool.Pool, *condo.Registry, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, nil, err
	}
	cfg.MaxConns = 4
	db, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	m, err := condomigrate.New(db, &condomigrate.Config{Tenant: fstest.MapFS{"0001_hotels.sql": {Data: []byte(migrationSQL())}}, Logger: rc.Logger})
	if err == nil {
		_, err = m.MigrateShared(ctx, nil)
	}
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, condo.NewRegistry(db, m, rc), nil
}

// w1Median is the median over runs rs of f (the upper one of an even count).
func w1Median(rs []w1pResult, f func(w1pResult) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// w1Pct returns the run's q-quantile latency in ms, for [w1Median].
func w1Pct(q float64) func(w1pResult) float64 {
	return func(r w1pResult) float64 { return r.pct(q) }
}
