package schemacopy_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/condo-dev/condo/condotest"
	"github.com/condo-dev/condo/internal/schemacopy"
)

// phases runs a move's phases from index from on, with ctx.
func phases(ctx context.Context, m *schemacopy.Mover, opts schemacopy.FinishOpts, from int, between func()) (int, error) {
	steps := []func() error{
		func() error { _, err := m.Prepare(ctx); return err },
		func() error { _, err := m.Copy(ctx); return err },
		func() error { _, err := m.CatchUp(ctx); return err },
		func() error { _, err := m.Finish(ctx, opts); return err },
	}
	for i := from; i < len(steps); i++ {
		if err := steps[i](); err != nil {
			return i, err
		}
		if i < len(steps)-1 {
			between()
		}
	}
	return len(steps), nil
}

// write is one round of tenant writes: an insert, an update, a delete.
func (e *env) write(t testing.TB, i int) {
	t.Helper()
	err := e.tenantTx(t.Context(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(t.Context(), "INSERT INTO hotel (name, city, stars) VALUES ($1, 'k', 2)", fmt.Sprintf("k%d", i)); err != nil {
			return err
		}
		if _, err := tx.Exec(t.Context(), "UPDATE hotel SET stars = 1 + (stars % 5) WHERE id = $1", 1+i%50); err != nil {
			return err
		}
		_, err := tx.Exec(t.Context(), "DELETE FROM room WHERE id = $1", 1+3*i)
		return err
	})
	if err != nil {
		t.Fatalf("tenant write %d: %v", i, err)
	}
}

// live reports where the tenant is served: the source when its schema is
// live and the registry points at it, the target when the registry does.
// It fails the test when both could be written (two live copies).
func (e *env) live(t testing.TB, reg *condotest.Database) string {
	t.Helper()
	place, srcLive := placement(t, reg), schemaExists(t, e.src.Pool, schema)
	switch {
	case place == "target" && srcLive:
		t.Fatal("two live copies: the registry points at the target and the source is not fenced")
	case place == "source" && !srcLive:
		return "none" // fenced, not switched: resume or roll back
	}
	return place
}

// TestKillAndResume kills a move at each point of each phase (the phase's
// context is cancelled, which closes its connections), then resumes it
// with a new Mover or rolls it back: either way the tenant ends up in
// exactly one live place with every write.
func TestKillAndResume(t *testing.T) {
	t.Parallel()
	cases := []struct {
		point    string
		phase    int
		inSource bool
	}{
		{"prepare:trigger", 0, false},
		{"copy:table", 1, false},
		{"copy:loaded", 1, false},
		{"catchup:applied", 2, false},
		{"finish:locked", 3, true},
		{"finish:verified", 3, false},
		{"finish:fenced", 3, false},
		{"finish:fenced", 3, true},
		{"switch", 3, false},
		{"switch", 3, true},
	}
	for _, c := range cases {
		for _, then := range []string{"resume", "rollback"} {
			t.Run(fmt.Sprintf("%s/inSource=%v/%s", c.point, c.inSource, then), func(t *testing.T) {
				t.Parallel()
				ctx := t.Context()
				e := newEnv(t)
				seed(t, e.src.Pool, 50, 4)
				reg := e.dst
				if c.inSource {
					reg = e.src
				}
				killCtx, kill := context.WithCancel(ctx)
				defer kill()
				m := e.mover(t)
				schemacopy.SetHook(m, func(_ context.Context, p string) {
					if p == c.point {
						kill()
					}
				})
				sw := switchIn(reg)
				failed := false
				opts := schemacopy.FinishOpts{SwitchInSourceTx: c.inSource, Switch: func(ctx context.Context, tx pgx.Tx) error {
					if c.point == "switch" && !failed {
						failed = true
						return errors.New("registry unreachable")
					}
					return sw(ctx, tx)
				}}
				i := 0
				next := func() { i++; e.write(t, i) }
				stopped, err := phases(killCtx, m, opts, 0, next)
				switch {
				case c.point == "finish:fenced" && c.inSource:
					// Fence and switch committed together before the kill.
					if err != nil {
						t.Fatalf("got %v, want the move done", err)
					}
				case stopped != c.phase || err == nil:
					t.Fatalf("stopped at phase %d with %v, want phase %d killed", stopped, err, c.phase)
				}
				t.Logf("killed at %s: %v; tenant served from %s", c.point, err, e.live(t, reg))
				if e.live(t, reg) == "source" {
					next() // the tenant keeps writing
				}

				m2 := e.mover(t)
				if then == "resume" {
					if _, err := phases(ctx, m2, schemacopy.FinishOpts{Switch: sw, SwitchInSourceTx: c.inSource}, min(stopped, 3), func() {}); err != nil {
						t.Fatalf("resume: %v", err)
					}
					if got := e.live(t, reg); got != "target" {
						t.Fatalf("after resume served from %s, want target", got)
					}
					e.targetKeys(t)
					for _, table := range []string{"hotel", "room"} {
						if diff := cmp.Diff(contents(t, e.src.Pool, "condo_moved_"+schema, table), contents(t, e.dst.Pool, schema, table)); diff != "" {
							t.Errorf("%s: fenced source and target differ (-source +target):\n%s", table, diff)
						}
					}
					return
				}
				if placement(t, reg) == "target" {
					// The caller switches the registry back before rolling back.
					mustExec(t, reg.Pool, "UPDATE public.placement SET place = 'source'")
				}
				if err := m2.Rollback(ctx); err != nil {
					t.Fatalf("rollback: %v", err)
				}
				if err := m2.Rollback(ctx); err != nil {
					t.Fatalf("second rollback: %v", err)
				}
				if got := e.live(t, reg); got != "source" {
					t.Fatalf("after rollback served from %s, want source", got)
				}
				next() // the tenant's role can write again: grants restored
				var triggers, target int
				if err := e.src.Pool.QueryRow(ctx, "SELECT count(*) FROM pg_trigger WHERE tgname = 'condo_schemacopy_capture'").Scan(&triggers); err != nil {
					t.Fatal(err)
				}
				if err := e.dst.Pool.QueryRow(ctx, "SELECT (SELECT count(*) FROM tenant_1.hotel) + (SELECT count(*) FROM tenant_1.room)").Scan(&target); err != nil {
					t.Fatal(err)
				}
				e.targetKeys(t)
				if triggers != 0 || target != 0 {
					t.Errorf("after rollback: %d capture triggers, %d target rows; want 0, 0", triggers, target)
				}
			})
		}
	}
}

// targetKeys fails the test unless the target has its foreign key (Copy
// drops it while loading).
func (e *env) targetKeys(t testing.TB) {
	t.Helper()
	var n int
	if err := e.dst.Pool.QueryRow(t.Context(), "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = 'tenant_1.room'::regclass").Scan(&n); err != nil || n != 1 {
		t.Errorf("target foreign keys on room: %d (%v), want 1", n, err)
	}
}
