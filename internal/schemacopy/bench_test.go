package schemacopy_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/internal/schemacopy"
)

// BenchmarkMove moves a hotels tenant of about 10 MB and 100 MB (tables
// and indexes; ten rooms per hotel) between two databases of the test
// server while one tenant writer updates rows, and reports per move the
// phases' durations and the write pause. Each iteration is rolled back
// (unfence, drop capture, empty the target) for the next.
func BenchmarkMove(b *testing.B) {
	for _, mb := range []int{10, 100} {
		b.Run(fmt.Sprintf("%dMB", mb), func(b *testing.B) {
			ctx := b.Context()
			e := newEnv(b)
			seed(b, e.src.Pool, mb*1000, 10)
			mustExec(b, e.src.Pool, "VACUUM ANALYZE tenant_1.hotel, tenant_1.room")
			var size int64
			if err := e.src.Pool.QueryRow(ctx, `SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'tenant_1' AND c.relkind = 'r'`).Scan(&size); err != nil {
				b.Fatal(err)
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var writes int
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					// Fails while the source is fenced; that is the point.
					if e.tenantTx(ctx, func(tx pgx.Tx) error {
						_, err := tx.Exec(ctx, "UPDATE hotel SET stars = 1 + stars % 5 WHERE id = $1", 1+i%(mb*1000))
						return err
					}) == nil {
						writes++
					}
				}
			})
			defer func() { close(stop); wg.Wait() }()
			m := e.mover(b)
			var prepare, cp, catchUp, finish, pause, verify time.Duration
			n := 0
			for b.Loop() {
				t0 := time.Now()
				if _, err := m.Prepare(ctx); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if _, err := m.Copy(ctx); err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				if _, err := m.CatchUp(ctx); err != nil {
					b.Fatal(err)
				}
				t3 := time.Now()
				res, err := m.Finish(ctx, schemacopy.FinishOpts{SwitchInSourceTx: true,
					Switch: func(context.Context, pgx.Tx) error { return nil }})
				if err != nil {
					b.Fatal(err)
				}
				prepare += t1.Sub(t0)
				cp += t2.Sub(t1)
				catchUp += t3.Sub(t2)
				finish += res.Duration
				pause += res.WritePause
				verify += res.Verify
				n++
				if err := m.Rollback(ctx); err != nil {
					b.Fatal(err)
				}
			}
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(n) }
			b.ReportMetric(float64(size)/(1<<20), "MB")
			b.ReportMetric(ms(prepare), "prepare-ms")
			b.ReportMetric(ms(cp), "copy-ms")
			b.ReportMetric(ms(catchUp), "catchup-ms")
			b.ReportMetric(ms(finish), "finish-ms")
			b.ReportMetric(ms(verify), "verify-ms")
			b.ReportMetric(ms(pause), "pause-ms")
			b.ReportMetric(ms(prepare+cp+catchUp+finish), "move-ms")
		})
	}
}
