package condo_test

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condotest"
)

// TestSharedPoolPgBouncer: behind PgBouncer in transaction mode, with one
// server connection for every client, SharedPool's role lasts exactly
// its transaction: the connection's next user runs as the runtime role
// again, after a success and after a refused query alike.
func TestSharedPoolPgBouncer(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := condotest.NewDatabaseInfo(t, &condotest.DatabaseOpts{Runtime: true})
	if _, err := db.Pool.Exec(ctx, "CREATE TABLE public.notes (id int); CREATE TABLE public.secrets (v text)"); err != nil {
		t.Fatal(err)
	}
	if _, err := condo.GrantRuntime(ctx, db.Pool, db.RuntimeRole, &condo.GrantRuntimeOpts{Tables: []condo.TableGrant{
		{Table: "notes", Privileges: []string{"SELECT", "INSERT"}},
	}}); err != nil {
		t.Fatal(err)
	}
	bouncer := condotest.NewPgBouncer(t, db, &condotest.PgBouncerOpts{PoolSize: 1, Users: []string{db.RuntimeRole}})
	cfg, err := pgxpool.ParseConfig(bouncer.URLFor(db.RuntimeRole))
	if err != nil {
		t.Fatal(err)
	}
	condo.ConfigurePool(cfg, condo.PoolerTransaction)
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	shared, err := condo.SharedRoleName(db.RuntimeRole)
	if err != nil {
		t.Fatal(err)
	}
	sp := condo.NewSharedPool(pool, shared)
	runtimeAgain := func(after string) {
		t.Helper()
		var who string
		if err := pool.QueryRow(ctx, "SELECT current_user::text").Scan(&who); err != nil || who != db.RuntimeRole {
			t.Fatalf("after %s: the next transaction runs as %q (%v), want %q", after, who, err, db.RuntimeRole)
		}
	}
	for i := range 3 {
		if _, err := sp.Exec(ctx, "INSERT INTO public.notes VALUES ($1)", i); err != nil {
			t.Fatalf("Exec: %v", err)
		}
		runtimeAgain("Exec")
		var who string
		var n int
		if err := sp.QueryRow(ctx, "SELECT current_user::text, count(*)::int FROM public.notes").Scan(&who, &n); err != nil || who != shared || n != i+1 {
			t.Fatalf("QueryRow: %q %d %v, want %q %d", who, n, err, shared, i+1)
		}
		runtimeAgain("QueryRow")
		rows, err := sp.Query(ctx, "SELECT id FROM public.notes ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		if ids, err := pgx.CollectRows(rows, pgx.RowTo[int32]); err != nil || len(ids) != i+1 {
			t.Fatalf("Query: %v %v", ids, err)
		}
		runtimeAgain("Query")
		_, err = sp.Exec(ctx, "SELECT v FROM public.secrets")
		if pe := (*pgconn.PgError)(nil); !errors.As(err, &pe) || pe.Code != "42501" {
			t.Fatalf("secrets: got %v, want insufficient_privilege", err)
		}
		runtimeAgain("a refused query")
	}
}
