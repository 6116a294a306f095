package condo_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condotest"
)

// BenchmarkW1CreateTenant is W1 of WORKLOADS.md: tenants t0001…tN with
// domain tNNNN.example.test, created one after another through the same
// code path as the CLI and the signup page. Run it with N iterations:
//
//	CONDO_TEST_DURABLE=1 go test -run '^$' -bench W1 -benchtime 1000x .
func BenchmarkW1CreateTenant(b *testing.B) {
	e := newEnv(b, nil, &condotest.DatabaseOpts{MaxConns: 4})
	ctx := b.Context()
	var lat []time.Duration
	i := 0
	start := time.Now()
	for b.Loop() {
		i++
		slug := fmt.Sprintf("t%04d", i)
		t0 := time.Now()
		if _, err := e.reg.Create(ctx, condo.CreateParams{Slug: slug, Name: "Tenant " + slug, Domains: []string{slug + ".example.test"}}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	total := time.Since(start)
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))].Microseconds()) / 1000
	}
	b.ReportMetric(total.Seconds(), "total-s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.95), "p95-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
