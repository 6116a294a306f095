package condo_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
)

// BenchmarkMoveTier moves a hotels tenant of about 10 MB and 100 MB
// (ten rooms per hotel) end to end through Registry.MoveTier — target
// made at the tenant's version, the engine's phases, the registry's
// switch — schema → database → schema on the test server, while one
// writer updates its hotels through Registry.InTx with the tenant as it
// was read before the moves (so it meets each switch). It reports each
// direction's duration and write pause, and the writer's failures (0
// expected: a transaction that hit the fenced copy runs again at the new
// place). Old copies are dropped between moves, outside the timing.
//
//	CONDO_TEST_DURABLE=1 go test -run '^$' -bench BenchmarkMoveTier -benchtime 2x .
func BenchmarkMoveTier(b *testing.B) {
	for _, mb := range []int{10, 100} {
		b.Run(fmt.Sprintf("%dMB", mb), func(b *testing.B) {
			e, _ := newMoveEnv(b, nil)
			ctx := b.Context()
			ten := e.create(b, "big")
			hotels := mb * 1000
			err := e.reg.InTx(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `INSERT INTO hotel (name, city, stars)
					SELECT 'hotel ' || i, 'city ' || (i % 97), 1 + i % 5 FROM generate_series(1, $1) i`, hotels); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `INSERT INTO room (hotel_id, number, beds, price)
					SELECT h.id, r::text, 1 + r % 4, 50 + (h.id * r) % 400 FROM hotel h, generate_series(1, 10) r`)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := e.pool.Exec(ctx, "VACUUM ANALYZE "+ten.Schema+".hotel, "+ten.Schema+".room"); err != nil {
				b.Fatal(err)
			}
			var size int64
			if err := e.pool.QueryRow(ctx, `SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c
				JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'`, ten.Schema).Scan(&size); err != nil {
				b.Fatal(err)
			}
			var writes, failed atomic.Int64
			var firstErr atomic.Value
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					err := e.reg.InTx(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
						_, err := tx.Exec(ctx, "UPDATE hotel SET stars = 1 + stars % 5 WHERE id = $1", 1+i%hotels)
						return err
					})
					if err != nil {
						firstErr.CompareAndSwap(nil, err.Error())
						failed.Add(1)
					} else {
						writes.Add(1)
					}
				}
			})
			defer func() { close(stop); wg.Wait() }()
			var dur, pause [2]time.Duration
			n := 0
			for b.Loop() {
				for i, tier := range []condo.Tier{condo.TierDatabase, condo.TierSchema} {
					if _, err := e.reg.CleanupMoves(ctx, 0); err != nil {
						b.Fatal(err)
					}
					res, err := e.reg.MoveTier(ctx, "big", tier, "", nil)
					if err != nil {
						b.Fatal(err)
					}
					dur[i] += res.Duration
					pause[i] += res.WritePause
				}
				n++
			}
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(n) }
			b.ReportMetric(float64(size)/(1<<20), "MB")
			b.ReportMetric(ms(dur[0]), "to-db-ms")
			b.ReportMetric(ms(pause[0]), "to-db-pause-ms")
			b.ReportMetric(ms(dur[1]), "to-schema-ms")
			b.ReportMetric(ms(pause[1]), "to-schema-pause-ms")
			b.ReportMetric(float64(writes.Load()), "writes")
			b.ReportMetric(float64(failed.Load()), "failed-writes")
			if f := firstErr.Load(); f != nil {
				b.Logf("first failed write: %s", f)
			}
		})
	}
}
