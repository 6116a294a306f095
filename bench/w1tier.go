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
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/internal/pgcluster"
)

// runW1Tier is W1 (o.w1tier tenants, one after another, through
// Registry.Create with the reference app's tables) in the schema tier and
// in the database tier, each run on fresh databases of its own durable
// cluster (as W1 is measured), the sides alternating which goes first.
// Reported: creation p50/p95/p99 and total per tier, medians of the runs,
// and the database/schema p50 ratio.
func runW1Tier(ctx context.Context, o options) error {
	var bin string
	if len(o.pgBins) > 0 {
		bin = o.pgBins[0]
	}
	dir := filepath.Join(o.out, "w1tier")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cl, err := pgcluster.Start(ctx, pgcluster.Config{Dir: filepath.Join(dir, "pg"), Settings: o.pgSettings, BinDir: bin, HBA: tierHBA()})
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer cl.Stop()
	admin := cl.URL(pgcluster.Superuser, "postgres")
	logf("machine: %d CPUs, %s; %s; %s; load average %s", runtime.NumCPU(), cpuModel(), runtime.Version(), pgVersion(ctx, admin), loadAvg())
	res := map[condo.Tier][]w1pResult{}
	for run := range o.runs {
		sides := []condo.Tier{condo.TierSchema, condo.TierDatabase}
		if run%2 == 1 {
			slices.Reverse(sides)
		}
		for _, tier := range sides {
			r, err := w1TierSide(ctx, cl, admin, "w1tier", o.w1tier, tier)
			if err != nil {
				return err
			}
			res[tier] = append(res[tier], r)
			logf("run %d, %s tier: total %.1f s; p50 %.2f ms, p95 %.2f ms, p99 %.2f ms; load average %s",
				run+1, tier, r.total.Seconds(), r.pct(0.5), r.pct(0.95), r.pct(0.99), loadAvg())
		}
	}
	med, p := w1Median, w1Pct
	fmt.Println()
	for _, tier := range []condo.Tier{condo.TierSchema, condo.TierDatabase} {
		rs := res[tier]
		fmt.Printf("W1t %d tenants, %s tier: total %.1f s, p50 %.2f ms, p95 %.2f ms, p99 %.2f ms (median of %d)\n", o.w1tier, tier,
			med(rs, func(r w1pResult) float64 { return r.total.Seconds() }), med(rs, p(0.5)), med(rs, p(0.95)), med(rs, p(0.99)), len(rs))
	}
	fmt.Printf("W1t p50 database/schema %.1f, p95 %.1f\n",
		med(res[condo.TierDatabase], p(0.5))/med(res[condo.TierSchema], p(0.5)), med(res[condo.TierDatabase], p(0.95))/med(res[condo.TierSchema], p(0.95)))
	return nil
}

// w1TierSide creates database name (owned by a login role with CREATEROLE
// and CREATEDB, as the README's Deploying asks), creates n tenants in tier
// and drops the database with its tenant databases.
func w1TierSide(ctx context.Context, cl *pgcluster.Cluster, admin, name string, n int, tier condo.Tier) (w1pResult, error) {
	var res w1pResult
	_ = pgcluster.DropDatabase(ctx, admin, name)
	if err := pgcluster.CreateDatabase(ctx, admin, pgcluster.DatabaseParams{Name: name}); err != nil {
		return res, err
	}
	defer func() { _ = pgcluster.DropDatabase(context.WithoutCancel(ctx), admin, name) }()
	ac, err := pgx.Connect(ctx, admin)
	if err != nil {
		return res, err
	}
	_, err = ac.Exec(ctx, "ALTER ROLE "+pgx.Identifier{name}.Sanitize()+" CREATEDB")
	ac.Close(context.Background())
	if err != nil {
		return res, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, reg, err := w1Registry(ctx, cl.URL(name, name), &condo.RegistryConfig{Logger: quiet, SecretKey: tierKey()})
	if err != nil {
		return res, err
	}
	defer db.Close()
	defer reg.Close()
	start := time.Now()
	for i := 1; i <= n; i++ {
		slug := fmt.Sprintf("t%04d", i)
		t0 := time.Now()
		if _, err := reg.Create(ctx, condo.CreateParams{Slug: slug, Name: "Tenant " + slug, Domains: []string{slug + ".example.test"}, Tier: tier}); err != nil {
			return res, err
		}
		res.lat = append(res.lat, time.Since(t0))
	}
	res.total = time.Since(start)
	slices.Sort(res.lat)
	return res, nil
}
