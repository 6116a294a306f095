package schemacopy_test

import (
	"errors"
	"testing"
	"time"

	"github.com/condo-dev/condo/condotest"
	"github.com/condo-dev/condo/internal/schemacopy"
)

// TestFinishBusy: a write transaction left open on the source keeps the
// write lock from being granted; Finish gives up after LockTimeout with
// ErrBusy, changes nothing, and succeeds once that transaction committed,
// with its write on the target.
func TestFinishBusy(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := newEnv(t)
	seed(t, e.src.Pool, 10, 2)
	m, err := schemacopy.New(schemacopy.Endpoint{Pool: e.src.Pool, Schema: schema},
		schemacopy.Endpoint{Pool: e.dst.Pool, Schema: schema},
		&schemacopy.Config{Logger: condotest.Logger(t), LockTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Copy(ctx); err != nil {
		t.Fatal(err)
	}
	open, err := e.src.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Rollback(ctx)
	if _, err := open.Exec(ctx, "SET LOCAL search_path TO "+schema+"; SET LOCAL ROLE "+quote(e.role)); err != nil {
		t.Fatal(err)
	}
	if _, err := open.Exec(ctx, "INSERT INTO hotel (name, city, stars) VALUES ('slow', 'x', 1)"); err != nil {
		t.Fatal(err)
	}
	opts := schemacopy.FinishOpts{SwitchInSourceTx: true, Switch: switchIn(e.src)}
	if _, err := m.Finish(ctx, opts); !errors.Is(err, schemacopy.ErrBusy) {
		t.Fatalf("Finish with a write in flight: got %v, want ErrBusy", err)
	}
	if placement(t, e.src) != "source" || !schemaExists(t, e.src.Pool, schema) {
		t.Fatal("a busy Finish fenced or switched")
	}
	if err := open.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Finish(ctx, opts); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := e.dst.Pool.QueryRow(ctx, "SELECT count(*) FROM tenant_1.hotel WHERE name = 'slow'").Scan(&n); err != nil || n != 1 {
		t.Errorf("the slow write on the target: %d (%v), want 1", n, err)
	}
}
