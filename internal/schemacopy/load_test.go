package schemacopy_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/internal/schemacopy"
)

// writer is one tenant writer's acknowledged writes: what the target
// must hold after the move.
type writer struct {
	id       int
	hotels   []string         // names of hotels it inserted
	city     map[int64]string // last city it set, by hotel (it alone updates these)
	deleted  []int64          // rooms it deleted
	err      error            // the error that stopped it
	attempts int
}

// run writes until stop is closed or a write fails (the source fenced).
func (w *writer) run(ctx context.Context, e *env, stop <-chan struct{}) {
	w.city = map[int64]string{}
	nextRoom := int64(w.id) + 1 // rooms seeded 1..n; this writer deletes ids ≡ id mod 4
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		w.attempts++
		var ack func()
		err := e.tenantTx(ctx, func(tx pgx.Tx) error {
			switch i % 3 {
			case 0:
				name := fmt.Sprintf("w%d-%d", w.id, i)
				ack = func() { w.hotels = append(w.hotels, name) }
				_, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) VALUES ($1, 'new', 3)", name)
				return err
			case 1:
				h := int64(w.id + 1 + 4*(i%50))
				city := fmt.Sprintf("c%d-%d", w.id, i)
				ack = func() { w.city[h] = city }
				_, err := tx.Exec(ctx, "UPDATE hotel SET city = $1 WHERE id = $2", city, h)
				return err
			default:
				r := nextRoom
				nextRoom += 4
				ack = func() { w.deleted = append(w.deleted, r) }
				_, err := tx.Exec(ctx, "DELETE FROM room WHERE id = $1", r)
				return err
			}
		})
		if err != nil {
			w.err = err
			return
		}
		ack()
	}
}

// TestMoveUnderLoad moves a tenant while four writers insert, update and
// delete through the tenant role and readers read: after Finish the
// target equals the source's final state, every acknowledged write is on
// it, the writer blocked by the pause gets an error and nothing lands on
// the fenced copy.
func TestMoveUnderLoad(t *testing.T) {
	t.Parallel()
	for _, inSource := range []bool{true, false} {
		t.Run(fmt.Sprintf("SwitchInSourceTx=%v", inSource), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			e := newEnv(t)
			seed(t, e.src.Pool, 200, 20)
			m := e.mover(t)
			if _, err := m.Prepare(ctx); err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			writers := make([]*writer, 4)
			for i := range writers {
				writers[i] = &writer{id: i}
				wg.Go(func() { writers[i].run(ctx, e, stop) })
			}
			var reads sync.WaitGroup
			var readErr error
			reads.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					err := e.tenantTx(ctx, func(tx pgx.Tx) error {
						var n int
						return tx.QueryRow(ctx, "SELECT count(*) FROM room").Scan(&n)
					})
					if err != nil {
						// After the fence the schema is gone for the source.
						readErr = err
						return
					}
				}
			})

			if _, err := m.Copy(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := m.CatchUp(ctx); err != nil {
				t.Fatal(err)
			}
			// The pause: a writer that comes now waits on the lock; a read
			// is served meanwhile.
			blockedDone := make(chan error, 1)
			var readDuringPause error
			schemacopy.SetHook(m, func(hctx context.Context, point string) {
				switch point {
				case "finish:locked":
					go func() {
						blockedDone <- e.tenantTx(ctx, func(tx pgx.Tx) error {
							if _, err := tx.Exec(ctx, "SET LOCAL application_name TO 'blocked'"); err != nil {
								return err
							}
							_, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) VALUES ('blocked', 'x', 1)")
							return err
						})
					}()
					waitBlocked(t, e.src, "blocked")
				case "finish:verified":
					rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
					defer cancel()
					readDuringPause = e.tenantTx(rctx, func(tx pgx.Tx) error {
						var n int
						return tx.QueryRow(rctx, "SELECT count(*) FROM hotel").Scan(&n)
					})
				}
			})
			reg := e.dst
			if inSource {
				reg = e.src
			}
			res, err := m.Finish(ctx, schemacopy.FinishOpts{Switch: switchIn(reg), SwitchInSourceTx: inSource})
			if err != nil {
				t.Fatal(err)
			}
			close(stop)
			wg.Wait()
			reads.Wait()
			t.Logf("write pause %v (verify %v, %d changes applied), catch-up %v, reads stopped by %v",
				res.WritePause, res.Verify, res.Applied, res.CatchUp, readErr)

			if readDuringPause != nil {
				t.Errorf("read during the pause: %v", readDuringPause)
			}
			if err := <-blockedDone; sqlState(err) != "42P01" {
				t.Errorf("blocked writer: got %v, want undefined_table (42P01)", err)
			}
			e.targetKeys(t)
			if got := placement(t, reg); got != "target" {
				t.Errorf("placement: got %q, want target", got)
			}
			if schemaExists(t, e.src.Pool, schema) {
				t.Errorf("source schema %s still live after the fence", schema)
			}
			fenced := "condo_moved_" + schema
			for _, table := range []string{"hotel", "room"} {
				if diff := cmp.Diff(contents(t, e.src.Pool, fenced, table), contents(t, e.dst.Pool, schema, table)); diff != "" {
					t.Errorf("%s: fenced source and target differ (-source +target):\n%s", table, diff)
				}
			}
			acked := 0
			for _, w := range writers {
				if w.err != nil && sqlState(w.err) != "42P01" {
					t.Errorf("writer %d stopped by %v, want undefined_table (42P01)", w.id, w.err)
				}
				for _, name := range w.hotels {
					var n int
					if err := e.dst.Pool.QueryRow(ctx, "SELECT count(*) FROM tenant_1.hotel WHERE name = $1", name).Scan(&n); err != nil || n != 1 {
						t.Errorf("acknowledged hotel %s: %d on the target (%v), want 1", name, n, err)
					}
				}
				for h, city := range w.city {
					var got string
					if err := e.dst.Pool.QueryRow(ctx, "SELECT city FROM tenant_1.hotel WHERE id = $1", h).Scan(&got); err != nil || got != city {
						t.Errorf("hotel %d: city %q on the target (%v), want acknowledged %q", h, got, err, city)
					}
				}
				for _, r := range w.deleted {
					var n int
					if err := e.dst.Pool.QueryRow(ctx, "SELECT count(*) FROM tenant_1.room WHERE id = $1", r).Scan(&n); err != nil || n != 0 {
						t.Errorf("deleted room %d: %d on the target (%v), want 0", r, n, err)
					}
				}
				acked += len(w.hotels) + len(w.city) + len(w.deleted)
			}
			var n int
			if err := e.dst.Pool.QueryRow(ctx, "SELECT count(*) FROM tenant_1.hotel WHERE name = 'blocked'").Scan(&n); err != nil || n != 0 {
				t.Errorf("blocked writer's hotel on the target: %d (%v)", n, err)
			}
			t.Logf("%d distinct acknowledged writes checked", acked)
			if acked == 0 {
				t.Error("no write was acknowledged during the move")
			}
			// Sequences follow: the target's next hotel id is past the source's.
			if _, err := e.dst.Pool.Exec(ctx, "INSERT INTO tenant_1.hotel (name, city, stars) VALUES ('after', 'x', 1)"); err != nil {
				t.Errorf("insert on the target after the move: %v", err)
			}
			if err := m.Cleanup(ctx); err != nil {
				t.Fatal(err)
			}
			if schemaExists(t, e.src.Pool, fenced) {
				t.Error("fenced copy still there after Cleanup")
			}
			if err := m.Cleanup(ctx); err != nil {
				t.Errorf("second Cleanup: %v", err)
			}
		})
	}
}
