package condo_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condotest"
)

// TestCitusMove moves a tenant to the other worker while clients write to
// it and read from it, and checks that no request failed and every
// acknowledged write is there afterwards, on the new node.
func TestCitusMove(t *testing.T) {
	t.Parallel()
	e := newCitusEnv(t, nil)
	ctx := t.Context()
	acme := e.create(t, "acme")
	nodes, err := e.reg.Nodes(ctx, []*condo.Tenant{acme})
	if err != nil {
		t.Fatalf("Nodes: %v", err)
	}
	from, ok := nodes[acme.Schema]
	if !ok {
		t.Fatalf("acme has no node: %v", nodes)
	}
	var to condo.Node
	for _, w := range condotest.Citus(t).Workers() {
		if w.Port != from.Port {
			to = condo.Node{Host: w.Host, Port: w.Port}
		}
	}

	var (
		acked, failed atomic.Int64
		firstErr      atomic.Value
		wg            sync.WaitGroup
	)
	stop, warm := make(chan struct{}), make(chan struct{})
	var warmOnce sync.Once
	tctx := condo.WithTenant(ctx, acme)
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := e.reg.InTenantTx(tctx, func(ctx context.Context, tx pgx.Tx) error {
					_, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) VALUES ('h', 'c', 3)")
					return err
				})
				if err == nil {
					err = e.reg.QueryTenant(tctx, func(rows pgx.Rows) error { rows.Close(); return rows.Err() }, "SELECT count(*) FROM hotel")
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				if acked.Add(1) == 20 {
					warmOnce.Do(func() { close(warm) })
				}
			}
		})
	}
	// Some load before the move starts, so it moves data being written.
	select {
	case <-warm:
	case <-time.After(time.Minute):
		t.Fatalf("no load after a minute: %d failed, first: %v", failed.Load(), firstErr.Load())
	}
	before := acked.Load()
	start := time.Now()
	if err := e.reg.Move(ctx, "acme", to); err != nil {
		close(stop)
		wg.Wait()
		t.Fatalf("Move: %v", err)
	}
	took := time.Since(start)
	during := acked.Load() - before
	close(stop)
	wg.Wait()
	t.Logf("move %s -> %s took %v; %d requests (a write and a read each) served during it, %d failed", from, to, took, during, failed.Load())
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d requests failed during the move, first: %v", n, firstErr.Load())
	}
	nodes, err = e.reg.Nodes(ctx, []*condo.Tenant{acme})
	if err != nil || nodes[acme.Schema] != to {
		t.Fatalf("after the move acme is on %v (%v), want %v", nodes[acme.Schema], err, to)
	}
	var rows int64
	err = e.reg.QueryTenant(tctx, func(r pgx.Rows) error {
		for r.Next() {
			if err := r.Scan(&rows); err != nil {
				return err
			}
		}
		return r.Err()
	}, "SELECT count(*) FROM hotel")
	if err != nil || rows != acked.Load() {
		t.Fatalf("rows after the move = %d, %v; want the %d acknowledged writes", rows, err, acked.Load())
	}
	// Moving to where it is does nothing.
	if err := e.reg.Move(ctx, "acme", to); err != nil {
		t.Fatalf("Move to its own node: %v", err)
	}
}
