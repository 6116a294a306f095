package condo_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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

// BenchmarkQueryTenant measures one tenant read on one connection, in the
// three ways a request can meet it. "prepared": the tenant's statement is
// already prepared on the connection (one round trip: set_config and the
// query, one Sync). "first": the connection meets the query for the first
// time and prepares it first (one more round trip), what a cold connection
// pays per tenant. "intx": the same read through InTenantTx (BEGIN with
// the SET LOCALs, the query, COMMIT), for comparison. Run it with:
//
//	go test -run '^$' -bench QueryTenant .
func BenchmarkQueryTenant(b *testing.B) {
	e := newEnv(b, nil, &condotest.DatabaseOpts{MaxConns: 1})
	ctx := b.Context()
	ten := e.create(b, "acme")
	if _, err := e.pool.Exec(ctx, "INSERT INTO "+ten.Schema+".hotel (name, city, stars) SELECT 'Hotel ' || g, 'Lisbon', 3 FROM generate_series(1, 10) g"); err != nil {
		b.Fatal(err)
	}
	tctx := condo.WithTenant(ctx, ten)
	read := func(rows pgx.Rows) error {
		var id int64
		var name string
		_, err := pgx.ForEachRow(rows, []any{&id, &name}, func() error { return nil })
		return err
	}
	const q = "SELECT id, name FROM hotel ORDER BY id"
	b.Run("prepared", func(b *testing.B) {
		for b.Loop() {
			if err := e.reg.QueryTenant(tctx, read, q); err != nil {
				b.Fatal(err)
			}
		}
	})
	// serve sets a statement timeout (--statement-timeout): the same
	// read with the timeout's set_config taking a value.
	b.Run("prepared-timeout", func(b *testing.B) {
		e.reg.SetTimeouts(30*time.Second, 0)
		defer e.reg.SetTimeouts(0, 0)
		for b.Loop() {
			if err := e.reg.QueryTenant(tctx, read, q); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("first", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			// A new text is a new statement to prepare.
			if err := e.reg.QueryTenant(tctx, read, fmt.Sprintf("%s LIMIT %d", q, 1000+i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("intx", func(b *testing.B) {
		for b.Loop() {
			err := e.reg.InTenantTx(tctx, func(ctx context.Context, tx pgx.Tx) error {
				rows, err := tx.Query(ctx, q)
				if err != nil {
					return err
				}
				return read(rows)
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
