package condomigrate_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condotest"
)

// BenchmarkW2 is W2 of WORKLOADS.md: N tenants at version 1 (default 1000,
// CONDO_W2_TENANTS=10000 for the large run), then the migration adding
// hotel.rating and an index on hotel(city):
//
//   - W2a: the fleet run, at default parallelism and with --parallel 1;
//
//   - W2b: the same command again, when every tenant is up to date.
//
//     CONDO_TEST_DURABLE=1 go test -run '^$' -bench W2 -benchtime 1x ./condomigrate
func BenchmarkW2(b *testing.B) {
	n := 1000
	if s := os.Getenv("CONDO_W2_TENANTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	for _, parallel := range []int{0, 1} {
		name := "default"
		if parallel == 1 {
			name = "parallel1"
		}
		b.Run(fmt.Sprintf("tenants=%d/%s", n, name), func(b *testing.B) {
			db := condotest.NewDatabaseInfo(b, &condotest.DatabaseOpts{MaxConns: 8})
			reg := createTenants(b, db.Pool, newMigrator(b, db.Pool, lines(nil)), n)
			m := newMigrator(b, db.Pool, lines(map[string]string{"0002_rating.sql": v2}))
			ctx := b.Context()
			var a, nop time.Duration
			for b.Loop() {
				start := time.Now()
				res, err := m.MigrateTenants(ctx, reg, &condomigrate.TenantOpts{Parallel: parallel})
				if err != nil || len(res.Migrated) != n {
					b.Fatalf("W2a: %v (%d migrated)", err, len(res.Migrated))
				}
				a = time.Since(start)
				start = time.Now()
				res, err = m.MigrateTenants(ctx, reg, &condomigrate.TenantOpts{Parallel: parallel})
				if err != nil || res.UpToDate != n {
					b.Fatalf("W2b: %v", err)
				}
				nop = time.Since(start)
			}
			b.ReportMetric(a.Seconds(), "W2a-s")
			b.ReportMetric(nop.Seconds(), "W2b-s")
		})
	}
}
