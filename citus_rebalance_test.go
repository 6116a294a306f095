package condo_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condotest"
)

// TestCitusRebalance: with every tenant on one worker, one of them large,
// a dry run plans moves and makes none; Rebalance makes them, leaving the
// workers closer than any tenant left to move could bring them, and a
// second plan is empty.
func TestCitusRebalance(t *testing.T) {
	t.Parallel()
	e := newCitusEnv(t, nil)
	ctx := t.Context()
	var workers []condo.Node
	for _, w := range condotest.Citus(t).Workers() {
		workers = append(workers, condo.Node{Host: w.Host, Port: w.Port})
	}
	var ts []*condo.Tenant
	for i := range 4 {
		ten := e.create(t, fmt.Sprintf("rb%d", i))
		ts = append(ts, ten)
		if err := e.reg.Move(ctx, ten.Slug, workers[0]); err != nil {
			t.Fatalf("Move: %v", err)
		}
	}
	// rb0 is large: about 1 MB of hotels.
	err := e.reg.InTenantTx(condo.WithTenant(ctx, ts[0]), func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO hotel (name, city, stars) SELECT repeat('x', 90), 'c', 3 FROM generate_series(1, 8000)")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	plan, err := e.reg.Rebalance(ctx, &condo.RebalanceOpts{DryRun: true})
	if err != nil {
		t.Fatalf("Rebalance dry run: %v", err)
	}
	t.Logf("plan: %+v", plan)
	if len(plan.Moves) == 0 || plan.Done != 0 {
		t.Fatalf("dry run: %d moves planned, %d done; want some planned, none done", len(plan.Moves), plan.Done)
	}
	nodes, err := e.reg.Nodes(ctx, ts)
	if err != nil {
		t.Fatal(err)
	}
	for _, ten := range ts {
		if nodes[ten.Schema] != workers[0] {
			t.Fatalf("after a dry run %s is on %s, want %s", ten.Slug, nodes[ten.Schema], workers[0])
		}
	}

	res, err := e.reg.Rebalance(ctx, nil)
	if err != nil {
		t.Fatalf("Rebalance: %v", err)
	}
	if res.Done != len(res.Moves) || len(res.Moves) != len(plan.Moves) {
		t.Fatalf("Rebalance: %d of %d moves done; the dry run planned %d", res.Done, len(res.Moves), len(plan.Moves))
	}
	// The large tenant stays (moving it would only swap the imbalance);
	// the small ones go until the gap is under twice the smallest.
	nodes, err = e.reg.Nodes(ctx, ts)
	if err != nil {
		t.Fatal(err)
	}
	sizes, err := e.reg.Sizes(ctx, ts)
	if err != nil {
		t.Fatal(err)
	}
	load := map[condo.Node]int64{}
	for _, ten := range ts {
		load[nodes[ten.Schema]] += sizes[ten.Schema].Bytes
	}
	if nodes[ts[0].Schema] != workers[0] {
		t.Errorf("the large tenant moved to %s", nodes[ts[0].Schema])
	}
	if load[workers[1]] == 0 {
		t.Errorf("nothing on %s after Rebalance: %v", workers[1], load)
	}
	before := plan.Before[workers[0]] - plan.Before[workers[1]]
	after := abs(res.After[workers[0]] - res.After[workers[1]])
	if after >= before {
		t.Errorf("gap before %d, after %d: want smaller", before, after)
	}
	t.Logf("rebalance: %d moves, gap %d -> %d bytes; now %v", len(res.Moves), before, after, load)
	again, err := e.reg.Rebalance(ctx, &condo.RebalanceOpts{DryRun: true})
	if err != nil || len(again.Moves) != 0 {
		t.Errorf("second plan: %+v, %v; want no moves", again, err)
	}
}

// TestRebalanceNotCitus: without Citus there is nothing to rebalance.
func TestRebalanceNotCitus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	if _, err := e.reg.Rebalance(t.Context(), nil); !errors.Is(err, condo.ErrNotCitus) {
		t.Fatalf("Rebalance on plain PostgreSQL: got %v, want ErrNotCitus", err)
	}
}

func abs(n int64) int64 { return max(n, -n) }
